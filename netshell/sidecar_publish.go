package netshell

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// PublishStream publishes batches of requests. A reader goroutine turns
// each batch into Published events, one input to the loop; this goroutine
// sends PublishAcks as answers come: the count of requests answered so far
// with no unanswered one before them (a block-policy publish can be
// answered after later ones), and each failure by its position. At most
// PublishStreamBytes of requests wait for answers; then the reader stops
// reading, and gRPC flow control holds the client back.
func (s *sidecarServer) PublishStream(stream grpc.BidiStreamingServer[sidecarpb.PublishBatch, sidecarpb.PublishAck]) error {
	ctx := stream.Context()
	answers := newMailbox[state.Effect]()
	var mu sync.Mutex
	position := make(map[uint64]pending) // request id -> where it is; guarded by mu
	room := newBudget(s.o.PublishStreamBytes)
	readErr := make(chan error, 1)
	go func() {
		var next uint64
		for {
			b, err := stream.Recv()
			if err != nil {
				readErr <- err
				return
			}
			reqs := b.GetRequests()
			if len(reqs) > s.o.MaxPublishBatch {
				readErr <- status.Errorf(codes.InvalidArgument, "batch of %d requests: the limit is %d; split it", len(reqs), s.o.MaxPublishBatch)
				return
			}
			cost := 0
			for _, r := range reqs {
				cost += publishCost(r)
			}
			if err := room.take(ctx, cost); err != nil {
				readErr <- err
				return
			}
			evs := make([]state.Event, len(reqs))
			mu.Lock()
			for i, r := range reqs {
				id := s.loop.newID()
				position[id] = pending{index: next, cost: publishCost(r)}
				next++
				evs[i] = publishFromProto(id, r)
			}
			mu.Unlock()
			if len(evs) == 0 {
				continue
			}
			if err := s.loop.post(ctx, input{evs: evs, reply: answers}); err != nil {
				readErr <- err
				return
			}
		}
	}()

	answered := make(map[uint64]bool) // positions answered beyond the prefix
	var prefix uint64                 // positions 0..prefix-1 all answered
	waiting := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(position)
	}
	return s.loop.serveAnswers(ctx, answers, readErr, waiting, func(buf []state.Effect) error {
		ack := &sidecarpb.PublishAck{}
		freed := 0
		mu.Lock()
		for _, e := range buf {
			c := e.(*state.CompletePublish)
			p := position[c.Req]
			delete(position, c.Req)
			answered[p.index] = true
			freed += p.cost
			if c.Err != nil {
				ack.Failures = append(ack.Failures, &sidecarpb.PublishFailure{
					Index: p.index, ErrorMessage: c.Err.Error(), Code: codeName(grpcCode(c.Err))})
			}
		}
		mu.Unlock()
		room.give(freed)
		for answered[prefix] {
			delete(answered, prefix)
			prefix++
		}
		ack.Accepted = prefix
		return rpcError(stream.Send(ack))
	})
}

// pending is a request of a PublishStream waiting for its answer.
type pending struct {
	index uint64 // its position on the stream
	cost  int    // what it holds of the stream's budget
}

// publishCost is what a request holds of its stream's budget while it
// waits: its payload and a kilobyte for everything else.
func publishCost(r *sidecarpb.PublishRequest) int { return len(r.GetPayload()) + 1024 }
