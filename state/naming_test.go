package state

import (
	"reflect"
	"testing"
)

// batch is a PublishedBatch of n publishes to topic.
func (h *harness) batch(topic string, n int, byNumber bool) []Effect {
	pubs := make([]Published, n)
	for i := range pubs {
		h.req++
		pubs[i] = Published{Req: h.req, Topic: topic, Payload: []byte{byte(i)}}
	}
	return h.step(&PublishedBatch{Pubs: pubs, ByNumber: byNumber})
}

// A message that only streams by number see is never given its id string:
// they read IDNum, and the id it names is the documented one.
func TestStreamsByNumberGetMessagesUnnamed(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 100, ByNumber: true})
	effs := h.batch("t", 3, true)
	ds := of[*Deliver](effs)
	if len(ds) != 3 {
		t.Fatalf("want 3 deliveries, got:\n%s", describe(effs))
	}
	for i, d := range ds {
		m := d.Out.Msg
		if m.ID != "" {
			t.Errorf("message %d was named %s for a stream by number", i, m.ID)
		}
		if want := derived(h.n.ID(), uint64(i+1)); m.IDNum != uint64(i+1) || m.MessageID() != want {
			t.Errorf("message %d: number %d, id %s; want %d, %s", i, m.IDNum, m.MessageID(), i+1, want)
		}
	}
	// The answers, by number, are one run: no ids, no counts.
	if cs, rs := of[*CompletePublish](effs), of[*CompletePublishRun](effs); len(cs) != 0 || len(rs) != 1 || rs[0].First != h.req-2 || rs[0].N != 3 {
		t.Errorf("answers by number: want one run of the 3 requests:\n%s", describe(effs))
	}
}

// Whoever reads the string gets it, rendered once and the same as the
// number derives: a v1 stream, a replay (sent as a v1 event even on a
// packed stream), a v1 publisher's answer, and a peer (rendered by the
// push's Envelope, the message itself not named: next test).
func TestMessagesAreNamedForWhoReadsTheirIDs(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("peer", "t")
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 100, ByNumber: true})
	effs := h.batch("t", 2, true)
	if ps := of[*Push](effs); len(ps) != 2 || ps[0].Envelope().ID != derived(h.n.ID(), 1) || ps[1].Envelope().ID != derived(h.n.ID(), 2) {
		t.Errorf("pushes to the peer are not named:\n%s", describe(effs))
	}

	// A packed publisher's messages to a v1 stream, with no peer.
	h = newHarness(t, "n1")
	h.start()
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 100, ByNumber: true})
	h.subscribeReq(&Subscribed{Stream: 2, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 100})
	effs = h.batch("t", 2, true)
	if ds := of[*Deliver](effs); len(ds) != 4 {
		t.Fatalf("want 4 deliveries, got:\n%s", describe(effs))
	}
	for _, d := range of[*Deliver](effs) {
		if want := derived(h.n.ID(), d.Out.Msg.IDNum); d.Out.Msg.ID != want {
			t.Errorf("stream %d got id %q, want %s", d.Stream, d.Out.Msg.ID, want)
		}
	}
	effs = h.batch("t", 2, false)
	for i, c := range of[*CompletePublish](effs) {
		if want := derived(h.n.ID(), uint64(i+3)); c.Result.MessageID != want {
			t.Errorf("answer %d names %q, want %s", i, c.Result.MessageID, want)
		}
	}

	// Published by number to a packed stream only, then replayed to
	// another packed stream: replays go as v1 events, named.
	h2 := newHarness(t, "n2")
	h2.start()
	h2.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"u"}, Policy: PolicyDefault, Credit: 100, ByNumber: true})
	h2.batch("u", 2, true)
	effs = h2.step(&Resumed{Stream: 3, Patterns: []string{"u"}, LastSeq: map[string]uint64{"u": 0}, Mode: RecoverReplay, Credit: 100, ByNumber: true})
	replays := 0
	for _, d := range of[*Deliver](effs) {
		if d.Out.Kind != OutReplay {
			continue
		}
		replays++
		if want := derived(h2.n.ID(), d.Out.Msg.IDNum); d.Out.Msg.ID != want {
			t.Errorf("replay named %q, want %s", d.Out.Msg.ID, want)
		}
	}
	if replays != 2 {
		t.Fatalf("want 2 replays, got:\n%s", describe(effs))
	}
}

// Ids named out of order, as replays and late readers name them, are the
// ids taken in order.
func TestIDsNamedOutOfOrderMatchTheirNumbers(t *testing.T) {
	p := newIDPool("n1")
	q := newIDPool("n1")
	var want []string
	for range 200 {
		id, _ := p.take()
		want = append(want, id)
	}
	for _, k := range []uint64{150, 3, 64, 65, 200, 1, 129, 128} {
		if got := q.name(k); got != want[k-1] {
			t.Errorf("name(%d) = %s, want %s", k, got, want[k-1])
		}
	}
}

// Publishes by number that a block-policy subscription holds are not in
// the run answer: each is answered alone once it is let in.
func TestHeldPublishesByNumberAreAnsweredAlone(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.QueueLimit = 2 })
	h.start()
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: Block, Credit: 0, ByNumber: true})
	effs := h.batch("t", 5, true)
	first := h.req - 4
	if rs := of[*CompletePublishRun](effs); len(rs) != 1 || rs[0].First != first || rs[0].N != 2 || len(of[*CompletePublish](effs)) != 0 {
		t.Fatalf("want a run answering the 2 queued publishes and nothing else:\n%s", describe(effs))
	}
	effs = h.step(&CreditGranted{Stream: 1, N: 10})
	cs := of[*CompletePublish](effs)
	if len(cs) != 3 || len(of[*CompletePublishRun](effs)) != 0 {
		t.Fatalf("want the 3 held publishes answered alone:\n%s", describe(effs))
	}
	for i, c := range cs {
		if c.Req != first+2+uint64(i) || c.Err != nil {
			t.Errorf("answer %d: %s", i, c)
		}
	}
}

// A push does not name its message: a packed push carries the number, and
// a shell that needs the string renders it from the number (WireID),
// never reading the ID field, which the node writes when a v1 reader
// first needs it. Here a v1 stream names the message after its push went
// out, and the push still gives the same id.
func TestPushedMessagesAreNotNamed(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("peer", "t")
	effs := h.batch("t", 2, true)
	ps := of[*Push](effs)
	if len(ps) != 2 {
		t.Fatalf("want 2 pushes, got:\n%s", describe(effs))
	}
	for i, p := range ps {
		want := derived(h.n.ID(), uint64(i+1))
		if p.Msg.ID != "" || p.Msg.IDNum != uint64(i+1) {
			t.Errorf("push %d: message named %q, number %d; want no name, number %d", i, p.Msg.ID, p.Msg.IDNum, i+1)
		}
		if p.Msg.WireID() != want || p.Envelope().ID != want {
			t.Errorf("push %d: id %q, envelope's %q; want %s", i, p.Msg.WireID(), p.Envelope().ID, want)
		}
	}
	// A v1 stream that resumes now replays them, naming them: the ids agree.
	effs = h.step(&Resumed{Stream: 9, Patterns: []string{"t"}, LastSeq: map[string]uint64{"t": 0}, Mode: RecoverReplay, Credit: 100})
	named := 0
	for _, d := range of[*Deliver](effs) {
		if d.Out.Kind == OutReplay {
			named++
			if d.Out.Msg.ID != d.Out.Msg.WireID() {
				t.Errorf("replay named %q, but the wire id is %q", d.Out.Msg.ID, d.Out.Msg.WireID())
			}
		}
	}
	if named != 2 || ps[0].Msg.ID == "" || ps[0].Envelope().ID != derived(h.n.ID(), 1) {
		t.Errorf("after the replay: %d named, the pushed message %q, its envelope %q:\n%s", named, ps[0].Msg.ID, ps[0].Envelope().ID, describe(effs))
	}
}

// Push.Envelope copies every field of the message's envelope but its id
// (WireID gives that), and sets the push's own: it is written field by
// field, so a field added to Envelope must be added there too.
func TestPushEnvelopeCopiesEveryField(t *testing.T) {
	var m Message
	m.Extras = new(Extras)
	fill(t, reflect.ValueOf(&m.Envelope).Elem())
	fill(t, reflect.ValueOf(m.Extras).Elem())
	p := &Push{Msg: &m, Prev: 7, DroppedFrom: 3, SyncOnly: false, Groups: []string{"g"}}
	env := p.Envelope()
	if env.Extras == nil || env.Extras == m.Extras {
		t.Fatalf("the envelope's extras are %p, the message's %p: want a copy of its own", env.Extras, m.Extras)
	}
	want := func(name string, v reflect.Value) any {
		switch name {
		case "ID":
			return m.WireID()
		case "PrevSeq":
			return p.Prev
		case "DroppedFrom":
			return p.DroppedFrom
		case "SyncOnly":
			return p.SyncOnly
		case "QueueGroups":
			return p.Groups
		}
		return v.Interface()
	}
	for _, c := range []struct{ got, of reflect.Value }{
		{reflect.ValueOf(env), reflect.ValueOf(m.Envelope)},
		{reflect.ValueOf(*env.Extras), reflect.ValueOf(*m.Extras)},
	} {
		for i := range c.of.NumField() {
			name := c.of.Type().Field(i).Name
			if name == "Extras" {
				continue // compared field by field
			}
			if w := want(name, c.of.Field(i)); !reflect.DeepEqual(c.got.Field(i).Interface(), w) {
				t.Errorf("envelope's %s = %v, want %v", name, c.got.Field(i).Interface(), w)
			}
		}
	}
}

// fill sets every field of the struct v to a value of its own, but a
// pointer to a struct, which the caller fills.
func fill(t *testing.T, v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name)
		case reflect.Int64, reflect.Int:
			f.SetInt(int64(100 + i))
		case reflect.Uint64:
			f.SetUint(uint64(100 + i))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Pointer:
			if f.Type().Elem().Kind() != reflect.Struct || f.IsNil() {
				t.Fatalf("field %s: fill it before", v.Type().Field(i).Name)
			}
		default:
			t.Fatalf("field %s of kind %s: teach this test to fill it", v.Type().Field(i).Name, f.Kind())
		}
	}
}
