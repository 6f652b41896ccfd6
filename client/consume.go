package client

import (
	"time"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// maxTrackedTopics bounds the per-topic sequence numbers one subscription
// keeps for gap detection and resume; past it the least recently seen
// topic is forgotten (its next message starts it again, unchecked). It
// also bounds a resume request: about 50 bytes a topic.
const maxTrackedTopics = 10000

// consume reads a stream's events and hands its messages to the
// application until the stream ends, and returns why.
func (s *Subscription) consume(st *stream) error {
	for {
		ev, frame, err := st.recv()
		if err != nil {
			if st.heldErr != nil {
				s.c.heldFailed(st.heldErr)
			}
			return err
		}
		live, size := 0, 0
		if frame != nil {
			s.resumeDone()
			size = len(frame.GetFrame())
			err = s.takeFrame(frame.GetFrame(), st.held)
			st.held = nil
			live = s.frames.dec.Count()
		} else {
			err = s.handle(ev)
			live, size = liveIn(ev)
		}
		if err != nil {
			return err
		}
		st.handed(live, size)
	}
}

// liveIn counts the live messages of an event, and their payloads' bytes.
func liveIn(ev *sidecarpb.MessageEvent) (n, size int) {
	switch e := ev.GetEvent().(type) {
	case *sidecarpb.MessageEvent_Message:
		return 1, len(e.Message.GetPayload())
	case *sidecarpb.MessageEvent_Batch:
		for _, m := range e.Batch.GetMessages() {
			size += len(m.GetPayload())
		}
		return len(e.Batch.GetMessages()), size
	}
	return 0, 0
}

// handle takes one MessageEvent, of a v1 stream or of a packed one (which
// sends every event but live messages as v1 does).
func (s *Subscription) handle(ev *sidecarpb.MessageEvent) error {
	var err error
	switch e := ev.GetEvent().(type) {
	case *sidecarpb.MessageEvent_Message:
		s.resumeDone()
		err = s.take(messageFromProto(e.Message, Live))
	case *sidecarpb.MessageEvent_Batch:
		s.resumeDone()
		for _, m := range e.Batch.GetMessages() {
			if err = s.take(messageFromProto(m, Live)); err != nil {
				break
			}
		}
	case *sidecarpb.MessageEvent_ReplayMessage:
		err = s.take(messageFromProto(e.ReplayMessage, Replayed))
	case *sidecarpb.MessageEvent_RetainedMessage:
		err = s.deliver(messageFromProto(e.RetainedMessage, Retained))
	case *sidecarpb.MessageEvent_BackpressureWarning:
		s.warn(e.BackpressureWarning)
	case *sidecarpb.MessageEvent_SubscriptionInfo:
		s.opened(e.SubscriptionInfo, "")
	case *sidecarpb.MessageEvent_ReplayComplete:
		s.replayed(e.ReplayComplete.GetTopic(), e.ReplayComplete.GetLatestSequence())
	case *sidecarpb.MessageEvent_Heartbeat:
		s.resumeDone()
	}
	return err
}

// take checks a numbered message against its topic's last number,
// reports a gap or drops a duplicate, and delivers it.
func (s *Subscription) take(m *Message) error {
	if !s.fresh(m) {
		return nil
	}
	return s.deliver(m)
}

// fresh checks a numbered message against its topic's last number,
// reports a gap, and says whether m is new (false for a duplicate).
func (s *Subscription) fresh(m *Message) bool {
	s.mu.Lock()
	g, fresh := s.seq.check(m.Topic, m.Sequence, m.ID)
	if g != nil {
		s.owedBy(g)
	}
	s.mu.Unlock()
	if g != nil {
		s.gap(*g)
	}
	return fresh
}

// maxInterned bounds frameReader.names; past it the map starts afresh.
const maxInterned = 4096

// A resume that could not replay everything says how many messages were
// missed in all. Each is reported once: topic by topic where the numbers
// show where (a jump in the replay, or a replay_complete whose latest
// number is past the last message replayed), and what is left, on topics
// this client never saw, in one gap without a topic when live messages
// begin.

// resumeMissed notes a resume's missed count; an unknown count (-1) is
// reported at once.
func (s *Subscription) resumeMissed(n int64) {
	if n < 0 {
		s.gap(Gap{Missed: -1, Cause: GapResume})
		return
	}
	s.mu.Lock()
	s.resumeOwed = n
	s.mu.Unlock()
}

// owedBy attributes a sequence gap to the resume while it owes messages;
// s.mu is held.
func (s *Subscription) owedBy(g *Gap) {
	if s.resumeOwed > 0 && g.Cause == GapSequence && g.Missed > 0 {
		g.Cause = GapResume
		s.resumeOwed = max(s.resumeOwed-g.Missed, 0)
	}
}

// replayed handles the end of one topic's replay: messages numbered up
// to latest that did not come were missed.
func (s *Subscription) replayed(topic string, latest int64) {
	s.mu.Lock()
	var g *Gap
	if ts := s.seq.last(topic); ts != nil && ts.seq > 0 && latest > ts.seq {
		g = &Gap{Topic: topic, Expected: ts.seq + 1, Missed: latest - ts.seq, Cause: GapSequence}
		s.owedBy(g)
		ts.seq, ts.id = latest, msgID{}
	}
	s.mu.Unlock()
	if g != nil {
		s.gap(*g)
	}
}

// resumeDone reports what a resume missed on topics never seen, once live
// events begin.
func (s *Subscription) resumeDone() {
	s.mu.Lock()
	n := s.resumeOwed
	s.resumeOwed = 0
	s.mu.Unlock()
	if n > 0 {
		s.gap(Gap{Missed: n, Cause: GapResume})
	}
}

// deliver waits until the application takes m (or the subscription
// ends): a slow reader holds the stream back, and the daemon queues.
func (s *Subscription) deliver(m *Message) error {
	select { // when the channel has room, without select's locking of both
	case s.ch <- m:
		return nil
	default:
	}
	select {
	case s.ch <- m:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// gap reports g to the subscription's handler, or the client's.
func (s *Subscription) gap(g Gap) {
	s.mu.Lock()
	g.Subscription = s.id
	s.mu.Unlock()
	s.c.log.Warn("nexusd: "+g.String(), "subscription", g.Subscription)
	h := s.o.onGap
	if h == nil {
		h = s.c.o.gapHandler
	}
	if h != nil {
		s.c.events.post(func() { h(g) })
	}
}

// warnings are the running totals of a subscription's last warning.
type warnings struct{ dropped, expired, lost uint64 }

// warn reports a backpressure warning with what changed since the last.
func (s *Subscription) warn(w *sidecarpb.BackpressureWarning) {
	since := func(total, prev uint64) uint64 {
		if total < prev {
			return total // a new subscription on the daemon counts from 0
		}
		return total - prev
	}
	s.mu.Lock()
	bw := BackpressureWarning{
		Subscription: s.id,
		Reason:       w.GetReason(),
		Dropped:      since(w.GetMessagesDropped(), s.warned.dropped),
		Expired:      since(w.GetMessagesExpired(), s.warned.expired),
		Lost:         since(w.GetMessagesLost(), s.warned.lost),
		TotalDropped: w.GetMessagesDropped(),
		TotalExpired: w.GetMessagesExpired(),
		TotalLost:    w.GetMessagesLost(),
		QueueDepth:   w.GetQueueDepth(),
		QueueLimit:   w.GetQueueLimit(),
		OldestAge:    time.Duration(w.GetOldestMessageAgeMs()) * time.Millisecond,
	}
	s.warned = warnings{w.GetMessagesDropped(), w.GetMessagesExpired(), w.GetMessagesLost()}
	s.mu.Unlock()
	s.c.log.Warn("nexusd: messages lost in the daemon", "subscription", bw.Subscription, "reason", bw.Reason,
		"dropped", bw.Dropped, "expired", bw.Expired, "lost", bw.Lost)
	h := s.o.backpressure
	if h == nil {
		h = s.c.o.backpressure
	}
	if h != nil {
		s.c.events.post(func() { h(bw) })
	}
}
