package netshell

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/vtcodec"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

func TestArenaCopiesSmallStringsIntoSharedChunks(t *testing.T) {
	var a arena
	src := []byte("0123456789")
	one, two := a.bytes(src), a.bytes(src)
	src[0] = 'x'
	if string(one) != "0123456789" || string(two) != "0123456789" {
		t.Fatalf("copies changed with their source: %q %q", one, two)
	}
	if unsafe.Pointer(unsafe.SliceData(two)) != unsafe.Add(unsafe.Pointer(unsafe.SliceData(one)), len(one)) {
		t.Fatal("two small copies did not share a chunk")
	}
	if cap(one) != len(one) {
		t.Fatalf("a copy's capacity %d runs past its %d bytes into its neighbour", cap(one), len(one))
	}
	if a.bytes(nil) != nil || a.string("") != "" {
		t.Fatal("an empty copy is not nil / empty")
	}
	big := bytes.Repeat([]byte{'b'}, arenaMaxCopy+1)
	if c := a.bytes(big); cap(c) > len(big)+64 || unsafe.SliceData(c) == unsafe.SliceData(a.chunk) {
		t.Fatal("a copy over arenaMaxCopy went into the chunk")
	}
	s := strings.Repeat("s", 100)
	if c := a.string(s); c != s || unsafe.StringData(c) == unsafe.StringData(s) {
		t.Fatal("string copy shares its source")
	}
	// A chunk that cannot take the next copy is replaced, not grown: the
	// copies already made keep their bytes.
	first := a.bytes([]byte("keep"))
	for range arenaChunkBytes / 100 {
		a.bytes(bytes.Repeat([]byte{'f'}, 100))
	}
	if string(first) != "keep" {
		t.Fatalf("an earlier copy changed: %q", first)
	}
}

// A large frame of one topic gets a chunk of its own, which no other
// frame's copies share; the shared chunk goes on where it was.
func TestArenaGivesALargeOneTopicFrameItsOwnChunk(t *testing.T) {
	next := func(b []byte) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), len(b)) }
	rec := bytes.Repeat([]byte{'r'}, 100)
	for _, fresh := range []bool{true, false} {
		var a arena
		var shared []byte
		if !fresh {
			shared = a.bytes([]byte("shared"))
		}
		a.oneTopic(oneTopicFrameBytes*2, 1000)
		first := a.bytes(rec)
		last := first
		for range oneTopicFrameBytes / len(rec) {
			c := a.bytes(rec)
			if unsafe.Pointer(unsafe.SliceData(c)) != next(last) {
				t.Fatalf("fresh=%v: a one-topic frame's copies are not in one chunk", fresh)
			}
			last = c
		}
		a.done()
		after := a.bytes([]byte("after"))
		if unsafe.Pointer(unsafe.SliceData(after)) == next(last) {
			t.Fatalf("fresh=%v: the next frame's copy went into the one-topic frame's chunk", fresh)
		}
		if !fresh && unsafe.Pointer(unsafe.SliceData(after)) != next(shared) {
			t.Fatal("the shared chunk did not go on where it was")
		}
		if string(first) != string(rec) {
			t.Fatal("a copy changed")
		}
	}
	// A small frame shares the chunk, and so does a large one of a few
	// records, whose large payloads are not copied into chunks.
	for _, f := range []struct{ bytes, records int }{{oneTopicFrameBytes - 1, 1000}, {64 << 20, 4}} {
		var a arena
		one := a.bytes([]byte("one"))
		a.oneTopic(f.bytes, f.records)
		two := a.bytes([]byte("two"))
		a.done()
		if unsafe.Pointer(unsafe.SliceData(two)) != next(one) {
			t.Fatalf("a one-topic frame of %d bytes and %d records did not share the chunk", f.bytes, f.records)
		}
	}
	// A frame's own chunk is no larger than its records could fill.
	var a arena
	a.oneTopic(64<<20, 100)
	if c := cap(a.chunk); c != 100*maxChunkedPerRecord {
		t.Fatalf("a chunk of %d bytes for 100 records of a 64 MiB frame, want %d", c, 100*maxChunkedPerRecord)
	}
	a.done()
}

// A PublishStream batch decoded in place: what borrowBatch copies out of
// it (topics and texts; the payloads are the node's to copy) keeps nothing
// of the buffer, which gRPC reuses for the next frame once the batch is
// released; and the batch keeps its requests for the next frame.
func TestHeldBatchKeepsItsRequestsAndWhatIsCopiedOutSurvives(t *testing.T) {
	in := &sidecarpb.PublishBatch{}
	for k := range 20 {
		in.Requests = append(in.Requests, &sidecarpb.PublishRequest{
			Topic: fmt.Sprintf("t/%d", k/8), Payload: bytes.Repeat([]byte{byte('a' + k)}, 100),
			ContentType: "text/plain", CorrelationId: fmt.Sprint("c", k), ReplyTo: "_inbox/x/1", Retain: k == 19,
		})
	}
	wire, err := in.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	var b heldBatch
	buf := append([]byte(nil), wire...)
	if err := b.UnmarshalHeld(mem.SliceBuffer(buf)); err != nil {
		t.Fatal(err)
	}
	var copies arena
	pubs := make([]state.Published, len(b.Msg().GetRequests()))
	borrowBatch(pubs, 0, b.Msg().GetRequests(), &copies)
	first := b.Msg().GetRequests()[0]
	b.Release()
	clear(buf) // gRPC's next frame
	for k, p := range pubs {
		want := in.Requests[k]
		contentType, correlation, replyTo := p.Extras.Texts()
		if p.Topic != want.Topic || contentType != want.ContentType ||
			correlation != want.CorrelationId || replyTo != want.ReplyTo || p.Retain != want.Retain {
			t.Fatalf("publish %d changed with the buffer: %+v", k, p)
		}
	}
	if len(b.Msg().GetRequests()) != 0 || first.GetTopic() != "" || first.GetPayload() != nil || first.GetContentType() != "" {
		t.Fatal("a released batch still holds its requests' fields")
	}
	if err := b.UnmarshalHeld(mem.SliceBuffer(append([]byte(nil), wire...))); err != nil {
		t.Fatal(err)
	}
	if b.Msg().GetRequests()[0] != first {
		t.Error("the next batch did not reuse the requests of the last")
	}
}

// A publish batch decoded into the requests of the one before holds
// nothing of it: clearRequests empties every request it keeps.
func TestClearedRequestsKeepNothingOfTheLastBatch(t *testing.T) {
	full := &sidecarpb.PublishBatch{Requests: []*sidecarpb.PublishRequest{
		{Topic: "a", Payload: []byte("one"), ContentType: "text/plain", CorrelationId: "c", Retain: true, TtlMs: 5, ReplyTo: "_INBOX.x"},
		{Topic: "b", Payload: []byte("two"), ContentType: "application/json", TtlMs: 7},
	}}
	plain := &sidecarpb.PublishBatch{Requests: []*sidecarpb.PublishRequest{{Topic: "c"}, {Topic: "d", Payload: []byte("four")}}}
	var b vtcodec.Held[sidecarpb.PublishBatch, *sidecarpb.PublishBatch]
	decode := func(m *sidecarpb.PublishBatch) {
		raw, err := m.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		if err := b.UnmarshalHeld(mem.SliceBuffer(raw)); err != nil {
			t.Fatal(err)
		}
	}
	decode(full)
	kept := b.Msg().Requests[0]
	clearRequests(b.Msg())
	b.Release()
	decode(plain)
	got := b.Msg().Requests
	if len(got) != 2 || got[0] != kept {
		t.Fatalf("%d requests, first reused %v: the decoder should fill the kept requests", len(got), got[0] == kept)
	}
	for i, want := range plain.Requests {
		if !proto.Equal(got[i], want) {
			t.Errorf("request %d decoded as %v, want %v", i, got[i], want)
		}
	}
	b.Release()
}

// A batch kept until it is answered lends its payloads as they are, for
// the node to copy what it keeps (PublishedBatch.Borrowed); its topics and
// texts are copied out, a run of one topic sharing one copy.
func TestBorrowBatchLendsPayloadsAndCopiesTheRest(t *testing.T) {
	reqs := []*sidecarpb.PublishRequest{
		{Topic: "t/a", Payload: []byte("one"), ContentType: "text/plain", TtlMs: 5},
		{Topic: "t/a", Payload: []byte("two"), CorrelationId: "c", Retain: true},
		{Topic: "t/b", Payload: []byte("three"), ReplyTo: "_INBOX.x"},
	}
	pubs := make([]state.Published, len(reqs))
	var a arena
	borrowBatch(pubs, 7, reqs, &a)
	for i, r := range reqs {
		p := &pubs[i]
		if unsafe.SliceData(p.Payload) != unsafe.SliceData(r.GetPayload()) {
			t.Errorf("publish %d: the payload is a copy, not the batch's", i)
		}
		if unsafe.StringData(p.Topic) == unsafe.StringData(r.GetTopic()) {
			t.Errorf("publish %d: the topic is the batch's, not a copy", i)
		}
		ct, corr, reply := p.Extras.Texts()
		if p.Req != uint64(7+i) || p.Topic != r.GetTopic() || p.Retain != r.GetRetain() || p.TTLMs != r.GetTtlMs() ||
			ct != r.GetContentType() || corr != r.GetCorrelationId() || reply != r.GetReplyTo() {
			t.Errorf("publish %d is %+v, want %v", i, p, r)
		}
		if ct != "" && unsafe.StringData(ct) == unsafe.StringData(r.GetContentType()) {
			t.Errorf("publish %d: the content type is the batch's, not a copy", i)
		}
	}
	if unsafe.StringData(pubs[0].Topic) != unsafe.StringData(pubs[1].Topic) {
		t.Error("a run of one topic does not share one copy of it")
	}
}
