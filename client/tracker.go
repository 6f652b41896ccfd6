package client

import (
	"container/list"
	"sort"
	"strings"
)

// tracker holds the last sequence number and message id per topic, for
// at most limit topics (the least recently seen goes first).
type tracker struct {
	limit  int
	topics map[string]*list.Element // of *topicSeq
	lru    list.List                // front: most recently seen
}

type topicSeq struct {
	topic string
	seq   int64 // last sequence number; 0 after a restart (expect 1)
	id    msgID // its message id, to recognise a duplicate
}

// msgID is a copy of a message id: a UUID (every id this daemon gives, and
// every v1 one) in place, a longer one as a string of its own. A copy,
// because a message's id may be a substring of its whole frame's ids
// (takeFrame), which the tracker must not keep alive topic after topic.
type msgID struct {
	short [36]byte
	n     int8   // bytes of short in use; -1: long holds it
	long  string // an id longer than 36 bytes
}

func makeMsgID(id string) msgID {
	var m msgID
	if len(id) > len(m.short) {
		m.n, m.long = -1, strings.Clone(id)
		return m
	}
	m.n = int8(copy(m.short[:], id))
	return m
}

// is reports whether m holds id.
func (m *msgID) is(id string) bool {
	if m.n < 0 {
		return m.long == id
	}
	return string(m.short[:m.n]) == id
}

func newTracker(limit int) *tracker {
	return &tracker{limit: limit, topics: make(map[string]*list.Element)}
}

// check records a numbered message and returns the gap it reveals, if
// any, and whether it is new (false for a duplicate of the last one).
// Unnumbered messages (v1 daemons) pass unchecked.
func (t *tracker) check(topic string, seq int64, id string) (*Gap, bool) {
	if seq <= 0 {
		return nil, true
	}
	el := t.lru.Front() // most often the topic of the message before
	if el == nil || el.Value.(*topicSeq).topic != topic {
		if el = t.topics[topic]; el != nil {
			t.lru.MoveToFront(el)
		}
	}
	if el == nil {
		// The first message on this topic since the subscription began:
		// nothing to compare it with.
		t.put(topic, seq, id)
		return nil, true
	}
	ts := el.Value.(*topicSeq)
	var g *Gap
	switch {
	case seq == ts.seq+1:
	case seq > ts.seq+1:
		g = &Gap{Topic: topic, Expected: ts.seq + 1, Received: seq, Missed: seq - ts.seq - 1, Cause: GapSequence}
	case ts.id.is(id):
		return nil, false // the same message again
	default:
		// The numbering went back: the daemon restarted or forgot the
		// topic. Say so, and follow the new numbering from here.
		g = &Gap{Topic: topic, Expected: ts.seq + 1, Received: seq, Missed: -1, Cause: GapRestart}
	}
	ts.seq, ts.id = seq, makeMsgID(id)
	return g, true
}

// last is the topic's entry, or nil.
func (t *tracker) last(topic string) *topicSeq {
	if el := t.topics[topic]; el != nil {
		return el.Value.(*topicSeq)
	}
	return nil
}

func (t *tracker) put(topic string, seq int64, id string) {
	if t.lru.Len() >= t.limit {
		old := t.lru.Back()
		t.lru.Remove(old)
		delete(t.topics, old.Value.(*topicSeq).topic)
	}
	t.topics[topic] = t.lru.PushFront(&topicSeq{topic: topic, seq: seq, id: makeMsgID(id)})
}

// snapshot is the last sequence number per topic.
func (t *tracker) snapshot() map[string]int64 {
	out := make(map[string]int64, len(t.topics))
	for topic, el := range t.topics {
		out[topic] = el.Value.(*topicSeq).seq
	}
	return out
}

// restart reports, for every topic with a number, the gap a restarted
// daemon leaves (of unknown size), and expects each topic's numbering to
// start again at 1.
func (t *tracker) restart() []Gap {
	var gaps []Gap
	for topic, el := range t.topics {
		ts := el.Value.(*topicSeq)
		if ts.seq > 0 {
			gaps = append(gaps, Gap{Topic: topic, Expected: ts.seq + 1, Missed: -1, Cause: GapRestart})
		}
		ts.seq, ts.id = 0, msgID{}
	}
	sort.Slice(gaps, func(i, j int) bool { return gaps[i].Topic < gaps[j].Topic })
	return gaps
}
