package client

import (
	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// pubItem is one message a Publisher holds until it is settled. It is a
// value in a pubQueue, so a Publish allocates nothing for it.
type pubItem struct {
	n       uint64 // the number Publish returned
	topic   string
	payload []byte
	opt     *publishOptions // nil: none given (most publishes)
}

// record fills r, a record reused from message to message, with the
// packed record of the message: every field a publish sets, the optional
// ones cleared when it leaves them unset. (Returning a Record would build
// it aside and copy its 200 bytes, for every message.)
func (it *pubItem) record(r *packed.Record) {
	r.Topic, r.Payload = it.topic, it.payload
	r.ContentType, r.Correlation, r.TTLMs, r.Retain, r.ReplyTo = "", "", 0, false, ""
	if o := it.opt; o != nil {
		r.ContentType, r.Correlation, r.TTLMs, r.Retain, r.ReplyTo = o.contentType, o.correlationID, o.ttlMs, o.retain, o.replyTo
	}
}

// fill writes the message into req, every field of it.
func (it *pubItem) fill(req *sidecarpb.PublishRequest) {
	var o publishOptions
	if it.opt != nil {
		o = *it.opt
	}
	req.Topic, req.Payload, req.Retain, req.ContentType = it.topic, it.payload, o.retain, o.contentType
	req.CorrelationId, req.TtlMs, req.ReplyTo = o.correlationID, o.ttlMs, o.replyTo
}

// pubQueue is a FIFO of pubItems in one array, reused as it empties:
// once it has grown, queuing and taking allocate nothing.
type pubQueue struct {
	items []pubItem
	head  int // items before it are taken
}

func (q *pubQueue) len() int { return len(q.items) - q.head }

// all is the queue's items, oldest first; valid until the next push or
// drop.
func (q *pubQueue) all() []pubItem { return q.items[q.head:] }

// first is the oldest item; the queue is not empty.
func (q *pubQueue) first() *pubItem { return &q.items[q.head] }

// push adds it at the end. When the array is full and at least half of
// it is taken, the rest moves to the front instead of the array growing.
func (q *pubQueue) push(it pubItem) {
	if len(q.items) == cap(q.items) && q.head > 0 && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, it)
}

// drop takes the n oldest items off, letting go of what they hold.
func (q *pubQueue) drop(n int) {
	clear(q.items[q.head : q.head+n])
	q.head += n
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
}

// prepend puts its before the queue's items (a fallback sends them
// again first).
func (q *pubQueue) prepend(its []pubItem) {
	all := make([]pubItem, 0, len(its)+q.len())
	all = append(append(all, its...), q.all()...)
	q.items, q.head = all, 0
}

// reset empties the queue and lets go of its array.
func (q *pubQueue) reset() { q.items, q.head = nil, 0 }
