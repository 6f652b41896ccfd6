package state

import (
	"strings"
	"testing"
	"unsafe"
)

// A Message is allocated for every message a node takes in, 32 to a slab
// for a run of local publishes, and the rings hold the newest of every
// topic: each byte of it is allocated, cleared, scanned and walked once a
// message. The fields most messages leave unset live in Extras, which
// took it from 256 bytes to 184 and BenchmarkPublishRun from a median of
// 191 to 154 ns a message (5 alternating runs). A field added must say
// here why it is worth its bytes, or go in Extras. The slab a message
// was made in (8 bytes, slab.go) lets the node use a run's slab again,
// and the collector run a fraction as often, instead of allocating 192
// bytes a message.
func TestAMessageStaysSmall(t *testing.T) {
	if s := unsafe.Sizeof(Message{}); s > 192 {
		t.Fatalf("Message is %d bytes, want at most 192", s)
	}
	if s := unsafe.Sizeof(Envelope{}); s > 128 {
		t.Fatalf("Envelope is %d bytes, want at most 128 (it is copied per push answer and resend)", s)
	}
	if s := unsafe.Sizeof(Published{}); s > 72 {
		t.Fatalf("Published is %d bytes, want at most 72 (a shell writes one a publish, the node reads it)", s)
	}
}

// Envelopes copied from one another share their Extras, so a write goes
// to a copy of its own (Edit) and never shows through the other envelope.
func TestEditLeavesSharedExtrasAlone(t *testing.T) {
	a := Envelope{Topic: "t", Extras: ExtrasOf(Extras{ReplyTo: "_inbox/n1/c1/1", QueueGroups: []string{"g"}})}
	b := a
	b.Edit().DroppedFrom = 7
	if a.DroppedFrom() != 0 || b.DroppedFrom() != 7 || b.ReplyTo() != a.ReplyTo() || b.QueueGroups()[0] != "g" {
		t.Fatalf("after editing a copy: a %+v, b %+v", *a.Extras, *b.Extras)
	}
	var none Envelope
	if none.ContentType() != "" || none.Correlation() != "" || none.ReplyTo() != "" || none.QueueGroups() != nil || none.DroppedFrom() != 0 {
		t.Fatal("an envelope without extras reads as having some")
	}
	if ExtrasOf(Extras{}) != nil {
		t.Fatal("ExtrasOf gave extras that set nothing: a message without them would be as large as before")
	}
	none.Edit().ContentType = "text/plain"
	if none.ContentType() != "text/plain" {
		t.Fatalf("an edit of an envelope without extras was lost: %q", none.ContentType())
	}
}

// A publish shares its Extras with the message it makes, and queue
// groups and a dropped-from claim are the mesh's to set: a publish that
// carries either is refused as Invalid, alone or within a frame, where
// the rest of the frame is published.
func TestAPublishCannotSetTheMeshsFields(t *testing.T) {
	for name, x := range map[string]*Extras{
		"queue groups": {QueueGroups: []string{"g"}},
		"dropped-from": {DroppedFrom: 3, ReplyTo: "_inbox/n1/c1/1"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			h.subscribe(1, 100, "#")
			effs := h.publish("jobs/a", "x", func(p *Published) { p.Extras = x })
			if c := only[*CompletePublish](t, effs); CodeOf(c.Err) != Invalid || !strings.Contains(c.Err.Error(), "mesh") {
				t.Fatalf("a lone publish with %s: %v, want Invalid", name, c.Err)
			}
			pubs := make([]Published, 3)
			for i := range pubs {
				h.req++
				pubs[i] = Published{Req: h.req, Topic: "jobs/a", Payload: []byte("r")}
			}
			pubs[1].Extras = x
			effs = h.step(&PublishedBatch{Pubs: pubs})
			cs := completions(effs)
			if CodeOf(cs[pubs[1].Req].Err) != Invalid || cs[pubs[0].Req].Err != nil || cs[pubs[2].Req].Err != nil {
				t.Fatalf("frame answers %+v", cs)
			}
			for _, d := range of[*Deliver](effs) {
				if d.Out.Msg != nil && d.Out.Msg.Extras != nil {
					t.Fatalf("a message with the mesh's fields was delivered: %+v", *d.Out.Msg.Extras)
				}
			}
			if got := len(delivered(effs, 1)); got != 2 {
				t.Fatalf("%d of the frame delivered, want the 2 valid ones", got)
			}
		})
	}
}
