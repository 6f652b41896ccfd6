package netshell

import (
	"sync"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// PublishStream publishes batches of requests. A reader goroutine turns
// each batch into Published events with consecutive request ids, one input
// to the loop; this goroutine sends PublishAcks as answers come: the count
// of requests answered so far with no unanswered one before them (a
// block-policy publish can be answered after later ones), and each failure
// by its position. At most PublishStreamBytes of requests wait for
// answers; then the reader stops reading, and gRPC flow control holds the
// client back. Nothing is allocated or looked up per message beyond the
// events themselves: batches are tracked as ranges.
func (s *sidecarServer) PublishStream(stream grpc.BidiStreamingServer[sidecarpb.PublishBatch, sidecarpb.PublishAck]) error {
	ctx := stream.Context()
	ps := &publishStream{wake: make(chan struct{}, 1)}
	room := newBudget(s.o.PublishStreamBytes)
	readErr := make(chan error, 1)
	go func() {
		for {
			b, err := stream.Recv()
			if err != nil {
				readErr <- err
				return
			}
			reqs := b.GetRequests()
			if err := checkPublishBatch(len(reqs), s.o.MaxPublishBatch); err != nil {
				readErr <- err
				return
			}
			if len(reqs) == 0 {
				continue
			}
			cost := 0
			for _, r := range reqs {
				cost += publishCost(r)
			}
			if err := room.take(ctx, cost); err != nil {
				readErr <- err
				return
			}
			base := s.loop.newIDs(len(reqs))
			slab := make([]state.Published, len(reqs))
			evs := make([]state.Event, len(reqs))
			for i, r := range reqs {
				publishInto(&slab[i], base+uint64(i), r)
				evs[i] = &slab[i]
			}
			ps.add(base, len(reqs), cost)
			if err := s.loop.post(ctx, input{evs: evs, reply: ps}); err != nil {
				readErr <- err
				return
			}
		}
	}()
	var got []publishAnswer
	return s.loop.serveAnswers(ctx, ps.wake, readErr, ps.idle, func() error {
		var ack *sidecarpb.PublishAck
		var freed int
		got, ack, freed = ps.settle(got)
		room.give(freed)
		if ack != nil {
			if err := stream.Send(ack); err != nil {
				return rpcError(err)
			}
		}
		return nil
	})
}

// publishStream tracks one PublishStream's requests as batches of
// consecutive ids, oldest first, and collects the loop's answers.
type publishStream struct {
	mu      sync.Mutex
	batches []pubBatch // waiting, oldest first
	next    uint64     // stream position of the next request read
	prefix  uint64     // positions before this all answered
	answers []publishAnswer
	wake    chan struct{}
}

type pubBatch struct {
	base     uint64 // first request id
	position uint64 // stream position of the first request
	n, done  int
	cost     int
}

type publishAnswer struct {
	req uint64
	err error
}

func (ps *publishStream) add(base uint64, n, cost int) {
	ps.mu.Lock()
	ps.batches = append(ps.batches, pubBatch{base: base, position: ps.next, n: n, cost: cost})
	ps.next += uint64(n)
	ps.mu.Unlock()
}

// answerPublish is called by the loop; answer is for anything else.
func (ps *publishStream) answerPublish(c *state.CompletePublish) {
	ps.mu.Lock()
	ps.answers = append(ps.answers, publishAnswer{req: c.Req, err: c.Err})
	ps.mu.Unlock()
	select {
	case ps.wake <- struct{}{}:
	default:
	}
}

func (ps *publishStream) answer(e state.Effect) {
	if c, ok := e.(*state.CompletePublish); ok {
		ps.answerPublish(c)
	}
}

func (ps *publishStream) idle() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.batches) == 0 && len(ps.answers) == 0
}

// settle applies the answers waiting: it returns the ack to send (nil if
// nothing moved) and the budget the finished batches free.
func (ps *publishStream) settle(spare []publishAnswer) ([]publishAnswer, *sidecarpb.PublishAck, int) {
	ps.mu.Lock()
	got := ps.answers
	ps.answers = spare[:0]
	var ack *sidecarpb.PublishAck
	for _, a := range got {
		i := 0
		for i < len(ps.batches) && a.req >= ps.batches[i].base+uint64(ps.batches[i].n) {
			i++
		}
		if i == len(ps.batches) || a.req < ps.batches[i].base {
			continue // not ours: cannot happen
		}
		b := &ps.batches[i]
		b.done++
		if a.err != nil {
			if ack == nil {
				ack = &sidecarpb.PublishAck{}
			}
			ack.Failures = append(ack.Failures, &sidecarpb.PublishFailure{
				Index: b.position + (a.req - b.base), ErrorMessage: a.err.Error(), Code: codeName(grpcCode(a.err))})
		}
	}
	freed, k := 0, 0
	for k < len(ps.batches) && ps.batches[k].done == ps.batches[k].n {
		freed += ps.batches[k].cost
		ps.prefix += uint64(ps.batches[k].n)
		k++
	}
	if k > 0 {
		ps.batches = append(ps.batches[:0], ps.batches[k:]...)
		if ack == nil {
			ack = &sidecarpb.PublishAck{}
		}
	}
	if ack != nil {
		ack.Accepted = ps.prefix
	}
	ps.mu.Unlock()
	clear(got)
	return got, ack, freed
}

// publishCost is what a request holds of its stream's budget while it
// waits: its payload and a kilobyte for everything else.
func publishCost(r *sidecarpb.PublishRequest) int { return len(r.GetPayload()) + 1024 }
