package netshell

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Lazy acks. By default a publish stream acknowledges whatever it has
// processed as soon as it can, so at a low rate every frame costs an ack:
// a write on the daemon's side and a wake-up on the client's, on the path
// of the next message. A PublishPacked client that only needs acks for
// credit and when it waits can ask for them lazily (metadata
// "nexusd-acks: lazy", docs/packed.md): the daemon then acks when a
// quarter of the window has been processed since its last ack, when a record failed,
// and when the client asks with an empty frame (as NATS answers a PING),
// once every record before it is processed. A stream's end, and a reader
// held back by the stream's byte budget, ask the same way.

// acksHeader is the metadata key that chooses a PublishPacked stream's
// acks; its values are ackEveryFrame (the default) and ackLazily.
const (
	acksHeader    = "nexusd-acks"
	ackEveryFrame = "frame"
	ackLazily     = "lazy"
)

// lazyAckRecords is how many records a lazy stream processes between acks
// when nothing else asks for one: a quarter of the first credit (an
// eighth of an ack's), so a sender that reads its acks promptly never
// waits for credit. (Half the credit cost local-1to1-packed 3-9% in 3
// alternating runs: a full-speed sender's frames are 1024 records, and it
// got credit every other frame; at a quarter the rate was the same as
// with an ack for every frame, and an ack every 512 records no better.)
const lazyAckRecords = publishPackedWindow / 4

// acksWanted reads the stream's choice of acks from its metadata: lazy or
// not. Any other value is refused, naming the ones there are.
func acksWanted(ctx context.Context) (lazy bool, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vs := md.Get(acksHeader)
	if len(vs) == 0 {
		return false, nil
	}
	switch v := vs[len(vs)-1]; v {
	case ackLazily:
		return true, nil
	case ackEveryFrame:
		return false, nil
	default:
		return false, status.Errorf(codes.InvalidArgument, "metadata %q is %q: it must be %q (an ack whenever records were processed, the default) or %q (acks for credit, failures and empty frames only)",
			acksHeader, v, ackEveryFrame, ackLazily)
	}
}

// ackPolicy decides when a publish stream's answering goroutine is woken
// and when it acks. Its fields are guarded by the stream's mu.
type ackPolicy struct {
	lazy     bool
	answers  uint64 // requests the loop has answered on the stream
	acked    uint64 // accepted as of the last ack sent
	asked    bool   // an ack was asked for (an empty frame, the end, a full budget)...
	askedFor uint64 // ...to be sent once accepted reaches this
	failing  bool   // a failure is answered and not yet reported
}

// answered counts n answers and reports whether the answering goroutine
// must wake for them: always, unless the stream is lazy and no ack would
// come of it.
func (a *ackPolicy) answered(n int, failed bool) bool {
	a.answers += uint64(n)
	a.failing = a.failing || failed
	return !a.lazy || a.failing || a.asked || a.answers-a.acked >= lazyAckRecords
}

// ask asks for an ack once the records before position at are processed.
func (a *ackPolicy) ask(at uint64) {
	a.asked, a.askedFor = true, max(a.askedFor, at)
}

// due reports whether to ack now, with accepted records processed, report
// set when failures among them are not yet reported and unreported when
// failures past them are, and if so notes the ack as sent. An answered ask
// is acked even when accepted has not moved since the last ack, as its
// asker waits for an answer.
func (a *ackPolicy) due(accepted uint64, report, unreported bool) bool {
	a.failing = unreported
	answersAsk := a.asked && accepted >= a.askedFor
	moved := accepted > a.acked
	if !answersAsk && !report && !(moved && (!a.lazy || accepted-a.acked >= lazyAckRecords)) {
		return false
	}
	a.acked = accepted
	if answersAsk {
		a.asked = false
	}
	return true
}

// askAck asks for an ack at position at and wakes the answering goroutine.
func (ps *publishStream) askAck(at uint64) {
	ps.mu.Lock()
	ps.acks.ask(at)
	ps.mu.Unlock()
	ps.poke()
}

// ackDue is ackPolicy.due under the stream's lock.
func (ps *publishStream) ackDue(accepted uint64, report, unreported bool) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.acks.due(accepted, report, unreported)
}

// answerRefused adds the reader's answers for records it refused.
func (ps *publishStream) answerRefused(refused []publishAnswer) {
	ps.mu.Lock()
	ps.answers = append(ps.answers, refused...)
	ps.acks.answered(len(refused), true)
	ps.mu.Unlock()
	ps.poke()
}

// refuse ends the stream with err, the status of a frame (or batch)
// refused whole after received records: they are acked before it ends,
// in either ack mode, so the sender knows which of them were taken.
func (ps *publishStream) refuse(err error, received uint64) error {
	ps.mu.Lock()
	owed := ps.acks.acked < received // else every record is acked already
	ps.mu.Unlock()
	if owed {
		ps.askAck(received)
	}
	return &refusedFrame{err: err}
}
