package fuzz

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/nexusd/nexusd/state"
)

// What FuzzNodeEvents checks of the memory a node reads without owning
// it, as a shell sees it: payloads borrowed for one Step, frames lent until
// the node gives them back, and messages the node hands out (a delivery,
// a push) that it may reuse once the shell says it is done with them.
//
// The driver keeps a copy of every payload handed to it while it still
// holds the message, and compares after every step: a message whose memory
// the node reused too soon, or one that still reads a frame given back for
// recycling or a payload borrowed for an earlier Step (both scribbled over
// with scribble), reads differently.

// scribble fills memory the node has given back; a tagged payload starts
// with it too, so one read after it was scribbled over has a tag no
// publish made.
const scribble = 0xa5

// tagged is a payload the driver can tell apart from every other: the
// scribble byte, a 7-byte tag, then bytes derived from the tag.
func tagged(tag uint64, n int) []byte {
	p := make([]byte, 8+n)
	binary.LittleEndian.PutUint64(p, tag<<8|scribble)
	for j := range n {
		p[8+j] = byte(tag*31 + uint64(j))
	}
	return p
}

// checkTag reports a tagged payload that no publish made.
func (d *driver) checkTag(p []byte) error {
	if len(p) < 8 || p[0] != scribble {
		return nil
	}
	tag := binary.LittleEndian.Uint64(p) >> 8
	if tag == 0 || tag > d.nextID {
		return fmt.Errorf("a payload handed out reads tag %#x: memory given back (scribbled) or never written", tag)
	}
	for j, b := range p[8:] {
		if b != byte(tag*31+uint64(j)) {
			return fmt.Errorf("payload tagged %d differs at byte %d", tag, 8+j)
		}
	}
	return nil
}

// fuzzFrame is a frame lent to the node.
type fuzzFrame struct {
	b        []byte
	released bool
}

// heldMsg is a message the driver holds, and what it read when handed it.
type heldMsg struct {
	m       *state.Message // nil: an event without a message
	topic   string
	payload []byte
}

func hold(m *state.Message) heldMsg {
	if m == nil {
		return heldMsg{}
	}
	return heldMsg{m: m, topic: m.Topic, payload: bytes.Clone(m.Payload)}
}

func (h heldMsg) check() error {
	if h.m == nil {
		return nil
	}
	if h.m.Topic != h.topic || !bytes.Equal(h.m.Payload, h.payload) {
		return fmt.Errorf("a message still held changed: topic %q payload %x, handed out as %q %x", h.m.Topic, h.m.Payload, h.topic, h.payload)
	}
	return nil
}

// shellMemory is the driver's side of that memory.
type shellMemory struct {
	reports  map[uint64]bool      // streams opened with ReportsSent
	handed   map[uint64][]heldMsg // a reporting stream's events not reported sent, oldest first
	kept     []heldMsg            // handed to streams that do not report: held for good (the latest few)
	inFlight map[uint64]heldMsg   // pushes not completed, by call
	peerSeq  map[string]uint64    // the last sequence each peer pushed the node on each topic
	peerNum  map[string]uint64    // the last number (id) each peer pushed the node
}

// maxKept bounds the messages of non-reporting streams the driver goes on
// comparing.
const maxKept = 256

func (s *shellMemory) init() {
	s.reports, s.handed, s.inFlight, s.peerSeq, s.peerNum =
		map[uint64]bool{}, map[uint64][]heldMsg{}, map[uint64]heldMsg{}, map[string]uint64{}, map[string]uint64{}
}

// batchPayloads makes a batch's tagged payloads, back to back in one
// buffer: a frame lent to the node (mode 2, 3; returned), a buffer
// borrowed for the Step (1), or the event's own (0).
func (d *driver) batchPayloads(mode byte, count, size int) ([][]byte, *fuzzFrame, []byte) {
	var buf []byte
	ends := make([]int, count)
	for i := range count {
		d.nextID++
		buf = append(buf, tagged(d.nextID, size)...)
		ends[i] = len(buf)
	}
	payloads := make([][]byte, count)
	start := 0
	for i, end := range ends {
		payloads[i] = buf[start:end:end]
		start = end
	}
	if mode >= 2 {
		return payloads, &fuzzFrame{b: buf}, buf
	}
	return payloads, nil, buf
}

// stepLending steps ev, whose payloads lie in buf, then scribbles over
// buf if it was only borrowed for the Step.
func (d *driver) stepLending(ev state.Event, mode byte, buf []byte) {
	d.step(ev)
	if mode == 1 {
		for k := range buf {
			buf[k] = scribble
		}
	}
}

// runTopic is the topic of a batch's i-th message: one topic for the
// whole batch, or (e&0x40) runs of e%7+1 messages on alternate topics, as
// a frame mixing topics has.
func runTopic(b, e byte, i int) string {
	if e&0x40 == 0 {
		return pick(topics, b)
	}
	return pick(topics, b+byte(i/(int(e%7)+1)%2))
}

// publishBatch: a run of tagged publishes, on one topic or runs of two,
// as a packed frame or a v1 batch brings them.
func (d *driver) publishBatch(prog *[]byte) {
	b, c, e := take(prog), take(prog), take(prog)
	mode := b >> 6
	payloads, f, buf := d.batchPayloads(mode, 1+int(c)%80, int(e)%24)
	pubs := make([]state.Published, len(payloads))
	for i, p := range payloads {
		d.nextID++
		pubs[i] = state.Published{Req: d.nextID, Topic: runTopic(b, e, i), Payload: p, Retain: b&0x10 != 0 && i == len(payloads)-1,
			TTLMs: int64(int8(e)) * 10}
	}
	ev := &state.PublishedBatch{Pubs: pubs, ByNumber: c&0x80 != 0, Borrowed: mode != 0}
	if f != nil {
		ev.Frame, ev.FrameBytes = f, len(buf)
	}
	d.stepLending(ev, mode, buf)
}

// pushBatch: a peer's run of tagged messages, on one topic or runs of
// two, numbered on from the last it pushed (or after a gap), as a packed
// push brings them.
func (d *driver) pushBatch(prog *[]byte) {
	b, c, e := take(prog), take(prog), take(prog)
	mode := b >> 6
	source := pick(peers, b>>2)
	payloads, f, buf := d.batchPayloads(mode, 1+int(c)%80, int(e)%24)
	envs := make([]state.Envelope, len(payloads))
	for i, p := range payloads {
		topic := runTopic(b, e, i)
		k := source + " " + topic
		d.mem.peerSeq[k]++
		if i == 0 {
			d.mem.peerSeq[k] += uint64(e % 3) // perhaps a hole
		}
		d.mem.peerNum[source]++
		seq := d.mem.peerSeq[k]
		envs[i] = state.Envelope{Topic: topic, Payload: p, Source: source, SourceSeq: seq, PrevSeq: seq - 1,
			IDNum: d.mem.peerNum[source], TimestampMs: d.now.WallMs, Retain: c&0x80 != 0 && i == 0}
		if g := pick(groups, e>>5); g != "" && i%2 == 0 {
			envs[i].Extras = state.ExtrasOf(state.Extras{QueueGroups: []string{g}})
		}
	}
	d.nextID++
	ev := &state.PushReceived{Req: d.nextID, Envs: envs, Borrowed: mode != 0}
	if f != nil {
		ev.Frame, ev.FrameBytes = f, len(buf)
	}
	d.stepLending(ev, mode, buf)
}

// sent reports n of a reporting stream's events sent (more than it was
// handed when bogus), comparing each before letting it go.
func (d *driver) sent(stream uint64, n int, bogus bool) int {
	h := d.mem.handed[stream]
	if bogus {
		n = len(h) + n + 1
	}
	for _, m := range h[:min(n, len(h))] {
		if err := m.check(); err != nil {
			d.t.Fatal(err)
		}
	}
	d.mem.handed[stream] = h[min(n, len(h)):]
	return n
}

// closed: the driver holds nothing of a stream it closed.
func (d *driver) closed(stream uint64) { delete(d.mem.handed, stream) }

// releaseFrame takes a frame back: one lent, once, and scribbled over
// when the node says nothing reads it any longer.
func (d *driver) releaseFrame(e *state.ReleaseFrame) {
	f, ok := e.Frame.(*fuzzFrame)
	switch {
	case !ok:
		d.t.Fatalf("the node gave back a frame it was never lent: %T", e.Frame)
	case f.released:
		d.t.Fatal("the node gave back a frame twice")
	}
	f.released = true
	if e.Recycle {
		for k := range f.b {
			f.b[k] = scribble
		}
	}
}

// handed notes a message the node hands the shell, after checking what it
// reads now.
func (d *driver) handed(stream uint64, m *state.Message, push uint64) {
	if m != nil {
		if err := d.checkTag(m.Payload); err != nil {
			d.t.Fatal(err)
		}
	}
	switch {
	case push != 0:
		d.mem.inFlight[push] = hold(m)
	case d.mem.reports[stream]:
		d.mem.handed[stream] = append(d.mem.handed[stream], hold(m))
	case m != nil:
		if len(d.mem.kept) == maxKept {
			d.mem.kept = append(d.mem.kept[:0], d.mem.kept[maxKept/2:]...)
		}
		d.mem.kept = append(d.mem.kept, hold(m))
	}
}

// pushDone lets go of a completed push's message, after comparing it.
func (d *driver) pushDone(call uint64) {
	if h, ok := d.mem.inFlight[call]; ok {
		if err := h.check(); err != nil {
			d.t.Fatal(err)
		}
		delete(d.mem.inFlight, call)
	}
}

// checkHeld compares every message the driver holds with what it read
// when handed it.
func (d *driver) checkHeld() error {
	for _, hs := range d.mem.handed {
		for _, h := range hs {
			if err := h.check(); err != nil {
				return err
			}
		}
	}
	for _, h := range d.mem.kept {
		if err := h.check(); err != nil {
			return err
		}
	}
	for _, h := range d.mem.inFlight {
		if err := h.check(); err != nil {
			return err
		}
	}
	return nil
}
