// Package pushstream is the call semantics of the mesh's push path: what
// the daemon (netshell) does on its gRPC push streams and what the
// simulator (sim) does on its simulated ones. Both drivers keep their
// pushes in a Sender, so ordering, batching, acknowledgement, failure order
// and deadlines cannot diverge between the two.
//
// The semantics. Pushes to one peer travel in order on one stream at a
// time. A sender takes whatever has accumulated into one batch, up to a
// message and a byte limit, without waiting for more. The receiver answers
// every batch, in order, with the cumulative count of messages it has
// answered on the stream and the ones it refused: a refusal is final
// (completed without error) unless it asks for a retry (completed with
// ErrRetry, so the pushing node pushes it again after its backoff). A
// stream breaks when its transport fails, when an answer is impossible, or
// when its oldest unanswered batch has waited longer than the call
// timeout: then every push on it not yet answered, and every push queued
// behind them, fails, oldest first, and the next batch opens a new stream.
// Answers on a stream that broke are ignored.
//
// What this package may not do: block, start goroutines, take locks or read
// a clock. Times are passed in; the caller serialises access.
package pushstream

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrRetry completes a push the receiver refused for now (it holds too
// much already): push it again later.
var ErrRetry = errors.New("the peer asked for the push again later")

// Item is one push.
type Item[T any] struct {
	Call  uint64 // the pushing node's call id: completed exactly once
	ID    string // the message id, which refusals name
	Bytes int    // what it weighs in a batch
	V     T
}

// Limits bound one batch: at most Messages, and no more than Bytes unless
// the batch is a single item.
type Limits struct{ Messages, Bytes int }

// DefaultLimits are what the daemon packs into one frame, and so what the
// simulator batches by: 1024 small messages amortise a frame's cost (in a
// packed frame a small message costs a few bytes besides its payload, so
// the frame's fixed cost dominates longer), and 256 KiB of payload keeps a
// frame short to send and far under the receiver's message limit.
var DefaultLimits = Limits{Messages: 1024, Bytes: 256 << 10}

// Refusal is one message an answer refused.
type Refusal struct {
	ID     string
	Retry  bool // refused for now: push it again later
	Reason string
}

// Done is one push an answer or a break completed; Err is nil when the
// receiver took it or refused it for good.
type Done[T any] struct {
	Item[T]
	Err error
}

// Sender is the push path to one peer.
type Sender[T any] struct {
	// IDOf, when set, gives the id of a push queued without one (Item.ID
	// ""), to match it with a refusal: a caller for which an id costs a
	// rendering leaves it to IDOf, which runs only for answers that refuse.
	IDOf func(*T) string

	queue    fifo[Item[T]]
	inflight fifo[Item[T]] // sent on the open stream, not yet answered
	marks    []mark        // when each unanswered batch went out, oldest first
	sent     uint64        // messages sent on the open stream
	answered uint64        // messages answered on it
	stream   uint64        // the open stream; 0: none
	streams  uint64        // streams ever opened
}

type mark struct {
	end uint64 // sent count after the batch
	at  time.Duration
}

// Queue adds a push behind everything queued.
func (s *Sender[T]) Queue(it Item[T]) { s.queue.push(it) }

// QueueSlot adds a zero push behind everything queued and returns it, to
// be filled in place before the Sender is next used: an item built aside
// and copied in whole can stall the CPU on its own pending stores.
func (s *Sender[T]) QueueSlot() *Item[T] { return s.queue.slot() }

// Queued is how many pushes wait to be sent.
func (s *Sender[T]) Queued() int { return s.queue.len() }

// InFlight is how many pushes were sent and are not answered.
func (s *Sender[T]) InFlight() int { return s.inflight.len() }

// Stream is the open stream, or 0.
func (s *Sender[T]) Stream() uint64 { return s.stream }

// Open starts a new stream (the caller has opened its transport) and
// returns its number. A stream still open is broken first; its failures
// are returned.
func (s *Sender[T]) Open() (uint64, []Item[T]) {
	var failed []Item[T]
	if s.stream != 0 {
		failed = s.Break(s.stream)
	}
	s.streams++
	s.stream = s.streams
	return s.stream, failed
}

// Next takes the next batch for the open stream: whatever is queued, up to
// l, at least one item, as a new slice the caller owns. It is empty when
// nothing is queued or no stream is open.
func (s *Sender[T]) Next(now time.Duration, l Limits) []Item[T] { return s.NextInto(nil, now, l) }

// NextInto is Next appending the batch to into[:0], whose array a caller
// sending batch after batch reuses.
func (s *Sender[T]) NextInto(into []Item[T], now time.Duration, l Limits) []Item[T] {
	if s.stream == 0 || s.queue.len() == 0 {
		return into[:0]
	}
	n, bytes := 0, 0
	for n < s.queue.len() && n < l.Messages {
		b := s.queue.at(n).Bytes
		if n > 0 && bytes+b > l.Bytes {
			break
		}
		bytes += b
		n++
	}
	batch := s.queue.take(slices.Grow(into[:0], n), n)
	s.inflight.push(batch...)
	s.sent += uint64(n)
	s.marks = append(s.marks, mark{end: s.sent, at: now})
	return batch
}

// Ack applies an answer on stream: count messages answered on it so far,
// refused among them. It returns the pushes it completes, in order. An
// answer on a stream that is no longer open completes nothing; an
// impossible one (a count going back or beyond what was sent) is an error,
// and the caller breaks the stream.
func (s *Sender[T]) Ack(stream, count uint64, refused []Refusal) ([]Done[T], error) {
	return s.AckInto(nil, stream, count, refused)
}

// AckInto is Ack appending the pushes it completes to into[:0], whose
// array a caller answering ack after ack reuses.
func (s *Sender[T]) AckInto(into []Done[T], stream, count uint64, refused []Refusal) ([]Done[T], error) {
	n, open, err := s.counts(stream, count)
	if !open || err != nil {
		return into[:0], err
	}
	done := slices.Grow(into[:0], n)[:n]
	for i := range n {
		done[i] = Done[T]{Item: *s.inflight.at(i)}
	}
	for _, r := range refused {
		i := s.findID(done, r.ID)
		if i < 0 {
			return nil, fmt.Errorf("peer refused message %q, which the answer does not cover", r.ID)
		}
		if r.Retry {
			done[i].Err = fmt.Errorf("%w: %s", ErrRetry, r.Reason)
		}
	}
	s.answer(n, count)
	return done, nil
}

// AckCalls is Ack for an answer that refuses nothing, so completes every
// push it counts without error: it returns only their calls, in order, in
// a new slice the caller owns, and copies no push.
func (s *Sender[T]) AckCalls(stream, count uint64) ([]uint64, error) {
	n, open, err := s.counts(stream, count)
	if !open || err != nil {
		return nil, err
	}
	calls := make([]uint64, n)
	for i := range n {
		calls[i] = s.inflight.at(i).Call
	}
	s.answer(n, count)
	return calls, nil
}

// counts is how many pushes an answer on stream counting count completes,
// whether stream is the open one (an answer on another completes
// nothing), or why the answer is impossible.
func (s *Sender[T]) counts(stream, count uint64) (n int, open bool, err error) {
	if stream != s.stream || stream == 0 {
		return 0, false, nil
	}
	if count < s.answered || count > s.sent {
		return 0, true, fmt.Errorf("peer answered %d pushes of %d sent (before: %d)", count, s.sent, s.answered)
	}
	return int(count - s.answered), true, nil
}

// answer forgets the n pushes an answer counting count completed, and the
// batches it answered whole.
func (s *Sender[T]) answer(n int, count uint64) {
	s.inflight.drop(n)
	s.answered = count
	k := 0
	for k < len(s.marks) && s.marks[k].end <= count {
		k++
	}
	s.marks = append(s.marks[:0], s.marks[k:]...)
}

// findID is the first push of done with id that no refusal matched yet.
func (s *Sender[T]) findID(done []Done[T], id string) int {
	for i := range done {
		d := &done[i]
		if d.Err != nil {
			continue
		}
		if d.ID == id || d.ID == "" && s.IDOf != nil && s.IDOf(&d.V) == id {
			return i
		}
	}
	return -1
}

// Break ends stream, if it is the open one, and returns what failed with
// it: every push sent on it and not answered, then every push queued,
// oldest first. The next batch needs a new stream.
func (s *Sender[T]) Break(stream uint64) []Item[T] {
	if stream != s.stream || stream == 0 {
		return nil
	}
	s.stream = 0
	s.sent, s.answered, s.marks = 0, 0, s.marks[:0]
	failed := s.inflight.takeAll()
	return append(failed, s.queue.takeAll()...)
}

// FailQueued fails every push queued (no stream could be opened for them),
// oldest first.
func (s *Sender[T]) FailQueued() []Item[T] { return s.queue.takeAll() }

// Overdue reports whether the open stream's oldest unanswered batch was
// sent longer than timeout before now; if not, due is when it will be (0:
// nothing is unanswered).
func (s *Sender[T]) Overdue(now, timeout time.Duration) (late bool, due time.Duration) {
	if s.stream == 0 || len(s.marks) == 0 {
		return false, 0
	}
	due = s.marks[0].at + timeout
	return now > due, due
}
