package state

import "math"

// Runs of deliveries. Live messages handed to one stream in a row, in one
// step, that were made together (a frame's publishes, PublishedBatch,
// run.go; a push's, remoteMessage) go in one Deliver, a run
// (Deliver.More), when the stream is by number (Subscribed.ByNumber: its
// shell sends live messages as packed records): the shell takes a run as
// one item, and may send its records on as they came. A run is one topic,
// one source and one timestamp, each message's Seq and IDNum one above
// the one's before it, and nothing else was handed to the stream between
// them. Its messages lie in one slab (slab.go), one after another, where
// At finds them.

// At is the run's message j: Out.Msg for 0, then those after it.
func (e *Deliver) At(j int) *Message { return e.Run().At(j) }

// Run is the messages a Deliver hands out, to keep past the step: the
// node uses its effects again at its next.
func (e *Deliver) Run() Run {
	return Run{msg: e.Out.Msg, slot: int16(e.slot), more: int16(e.More), bytes: int32(e.bytes)}
}

// Run is Deliver's messages: Out.Msg alone, or a run. The zero Run holds
// none.
type Run struct {
	msg   *Message
	slot  int16 // a run's: where msg is in its slab (at most runMsgsPerSlab)
	more  int16
	bytes int32 // a run's: its payload and topic bytes, all told (a slab's worth)
}

// OneMessage is the Run of m alone.
func OneMessage(m *Message) Run { return Run{msg: m} }

// Len is how many messages the run holds.
func (r Run) Len() int {
	if r.msg == nil {
		return 0
	}
	return int(r.more) + 1
}

// At is the run's message j, from 0.
func (r Run) At(j int) *Message {
	if j == 0 {
		return r.msg
	}
	return &r.msg.slab.msgs[int(r.slot)+j]
}

// Bytes is the payload and topic bytes of the run's messages: what they
// take of a stream's byte credit (Subscribed.CreditBytes).
func (r Run) Bytes() int {
	if r.more == 0 {
		if r.msg == nil {
			return 0
		}
		return len(r.msg.Payload) + len(r.msg.Topic)
	}
	return int(r.bytes)
}

// handOutLive hands live message m out on s's stream: as the next message
// of the run handed to it last, if m may join it (joins), else in a
// Deliver of its own that the next may join, if the stream takes runs.
func (n *Node) handOutLive(s *subscription, m *Message) {
	if n.joins(s, m) {
		n.join(s, m)
		return
	}
	d := n.deliver(s, Out{Kind: OutMessage, Msg: m})
	s.run = nil
	if !s.byNumber || m.slab == nil {
		return
	}
	for i := range m.slab.msgs {
		if &m.slab.msgs[i] == m {
			d.slot, d.bytes = i, len(m.Payload)+len(m.Topic)
			s.run, s.runLast, s.runOuts, s.runStep = d, m, s.outs, n.step
			return
		}
	}
}

// joins reports whether live message m may join the run handed to s's
// stream last: in this step, with nothing handed to the stream since,
// and m following its last message as Deliver promises.
func (n *Node) joins(s *subscription, m *Message) bool {
	d, last := s.run, s.runLast
	if d == nil || s.runStep != n.step || s.runOuts != s.outs {
		return false
	}
	next := d.slot + d.More + 1
	if m.slab != last.slab || next >= len(m.slab.msgs) || m != &m.slab.msgs[next] {
		return false
	}
	// m.topic: the topic it was numbered in, one pointer for its name
	return m.Seq == last.Seq+1 && m.IDNum == last.IDNum+1 && last.IDNum != 0 && m.TimestampMs == last.TimestampMs &&
		m.topic == last.topic && m.Source == last.Source && d.bytes+len(m.Payload)+len(m.Topic) <= math.MaxInt32
}

// join hands m out on s's stream as the next message of its run: what
// deliver does for a live message, but for a Deliver of its own.
func (n *Node) join(s *subscription, m *Message) {
	d := s.run
	s.runLast = m
	d.More++
	d.bytes += len(m.Payload) + len(m.Topic)
	n.handedOut(s, OutMessage, m)
	s.runOuts = s.outs
}

// Split cuts the run before its message j: head holds those before, rest
// the others.
func (r Run) Split(j int) (head, rest Run) {
	switch {
	case j <= 0:
		return Run{}, r
	case j >= r.Len():
		return r, Run{}
	}
	b := 0
	for i := range j {
		m := r.At(i)
		b += len(m.Payload) + len(m.Topic)
	}
	head = Run{msg: r.msg, slot: r.slot, more: int16(j - 1), bytes: int32(b)}
	rest = Run{msg: r.At(j), slot: r.slot + int16(j), more: r.more - int16(j), bytes: r.bytes - int32(b)}
	return head, rest
}
