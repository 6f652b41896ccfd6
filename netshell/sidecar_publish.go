package netshell

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/internal/vtcodec"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// PublishStream publishes batches of requests. A reader goroutine turns
// each batch into one PublishedBatch event with consecutive request ids,
// which the node routes a run of one topic at a time; this goroutine sends
// PublishAcks as answers come: the count of requests answered so far with
// no unanswered one before them (a block-policy publish can be answered
// after later ones), and each failure by its position. At most
// PublishStreamBytes of requests wait for answers; then the reader stops
// reading, and gRPC flow control holds the client back. Nothing is
// allocated or looked up per message: batches are tracked as ranges, a
// batch stays in the buffer it arrived in until all of it is answered
// (readBatches), and then its buffer, its decoded requests and its event
// are used again (the node keeps no event, and the loop is done with it
// by then).
func (s *sidecarServer) PublishStream(stream grpc.BidiStreamingServer[sidecarpb.PublishBatch, sidecarpb.PublishAck]) error {
	ctx := stream.Context()
	ps := &publishStream{wake: make(chan struct{}, 1)}
	room := newBudget(s.o.PublishStreamBytes)
	readErr := make(chan error, 1)
	go func() { readErr <- s.readBatches(ctx, stream, ps, room) }()
	var got []publishAnswer
	return s.loop.serveAnswers(ctx, ps.wake, readErr, ps.idle, func() error {
		var ack *sidecarpb.PublishAck
		var st settled
		got, st = ps.settle(got, func(index uint64, err error) {
			if ack == nil {
				ack = &sidecarpb.PublishAck{}
			}
			ack.Failures = append(ack.Failures, &sidecarpb.PublishFailure{
				Index: index, ErrorMessage: err.Error(), Code: codeName(grpcCode(err))})
		})
		room.give(st.freed)
		if ack == nil && st.moved {
			ack = &sidecarpb.PublishAck{}
		}
		if ack != nil {
			ack.Accepted = st.accepted
			if err := stream.Send(ack); err != nil {
				return rpcError(err)
			}
		}
		return nil
	})
}

// readBatches reads PublishStream batches until the stream ends or fails.
// Each batch is kept until it is answered and the node gives it back: the
// node keeps most payloads where they are, in gRPC's buffer, and copies
// the others (PublishedBatch.Frame); topics and texts are copied out
// (borrowBatch). A batch still unanswered when the stream ends is left to
// the collector.
func (s *sidecarServer) readBatches(ctx context.Context, stream grpc.BidiStreamingServer[sidecarpb.PublishBatch, sidecarpb.PublishAck],
	ps *publishStream, room *budget) error {
	var b *heldBatch
	defer func() {
		if b != nil {
			b.recycle()
		}
	}()
	var copies arena
	for {
		if b == nil {
			b = heldBatches.Get().(*heldBatch)
		}
		b.Release() // a batch that posted nothing
		if err := stream.RecvMsg(b); err != nil {
			return err
		}
		reqs := b.Msg().GetRequests()
		if err := checkPublishBatch(len(reqs), s.o.MaxPublishBatch); err != nil {
			// The stream ends once what came before is answered: every
			// answer is acked as it comes.
			return &refusedFrame{err: err}
		}
		if len(reqs) == 0 {
			continue
		}
		cost := 0
		for _, r := range reqs {
			cost += publishCost(r)
		}
		if err := room.take(ctx, cost); err != nil {
			return err
		}
		base := s.loop.newIDs(len(reqs))
		ev := ps.event(len(reqs))
		borrowBatch(ev.Pubs, base, reqs, &copies)
		// Lent: the node keeps payloads where they are, in gRPC's
		// buffer, and gives the batch back when nothing it holds reads
		// them.
		ev.Borrowed, ev.Frame, ev.FrameBytes = true, b, b.Size()
		b.lend()
		ps.add(base, len(reqs), cost, ev, nil, b)
		b = nil // the batch's now
		if err := s.loop.pressure.wait(ctx, s.loop.clk, s.o.BlockTimeout); err != nil {
			return err
		}
		if err := s.loop.post(ctx, input{ev: ev, reply: ps}); err != nil {
			return err
		}
	}
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
	acks    ackPolicy // when the answering goroutine is woken and acks (sidecar_publish_acks.go)
	acked   bool      // PublishPacked has sent an ack: its window is publishPackedAckWindow

	// busy is the loop's peerPressure.busy, which it sets after stepping
	// a publish and before answering it (nil: not read); narrow is its
	// value when the last answers were filed, so an ack's credit follows
	// the step that answered, not whatever the node does by the time the
	// ack goes out.
	busy   *atomic.Bool
	narrow bool
}

type pubBatch struct {
	base     uint64 // first request id
	position uint64 // stream position of the first request
	n, done  int
	cost     int
	ev       *state.PublishedBatch // reusable once done == n
	order    []uint32              // request k is the batch's order[k]th; nil: the kth
	held     received              // what ev's payloads borrow (PublishedBatch.Borrowed): released once done == n
}

type publishAnswer struct {
	req uint64
	err error
	n   int // requests req, req+1, ... answered alike; 0 is 1
}

// event is a PublishedBatch of n publishes to fill: an answered batch's,
// or a new one. Events are shared by all streams (publishEvents), as
// their frames are: a stream has as many in flight as its client's window
// allows.
func (ps *publishStream) event(n int) *state.PublishedBatch {
	ev := publishEvents.Get().(*state.PublishedBatch)
	if cap(ev.Pubs) < n {
		ev.Pubs = make([]state.Published, n)
	}
	ev.Pubs, ev.ByNumber, ev.Borrowed, ev.Frame, ev.FrameBytes = ev.Pubs[:n], false, false, nil, 0
	return ev
}

// publishEvents are the events of answered batches, to reuse: the node
// keeps no event, and the loop is done with one by the time its batch is
// answered.
var publishEvents = sync.Pool{New: func() any { return new(state.PublishedBatch) }}

// received is a batch's frame decoded in place in gRPC's buffer, kept
// until the batch is answered: a PublishPacked frame (heldFrame) or a
// PublishStream batch (heldBatch). recycle gives the buffer back and the
// frame to its pool, for any stream to receive into: a stream has as many
// in flight as its client's window allows (sixteen batches of 64, say),
// and each keeps its decoded requests for the next.
type received interface{ recycle() }

// heldFrame is a PublishPacked frame decoded in place in gRPC's buffer.
type heldFrame struct {
	vtcodec.Held[sidecarpb.PackedFrame, *sidecarpb.PackedFrame]
	lent
}

// heldBatch is a PublishStream batch decoded in place in gRPC's buffer.
type heldBatch struct {
	vtcodec.Held[sidecarpb.PublishBatch, *sidecarpb.PublishBatch]
	lent
}

// lent is a received frame's or batch's owners once it is lent to the
// node (PublishedBatch.Frame): its batch until answered, and the node
// until it gives it back (state.ReleaseFrame). The last to let go
// recycles it, unless the node said a message in it went where it does
// not count readers: then it is left to the collector, gRPC's buffer
// with it. Not lent, the batch is its one owner.
type lent struct {
	owners atomic.Int32
	keep   atomic.Bool
}

// lend makes the node a second owner.
func (l *lent) lend() { l.owners.Store(2) }

// letGo ends one owner's hold, and reports whether it was the last and
// the memory may be used again.
func (l *lent) letGo() bool {
	if l.owners.Load() > 0 && l.owners.Add(-1) > 0 {
		return false
	}
	return !l.keep.Load()
}

// given is the node giving it back; recycle as in state.ReleaseFrame.
func (l *lent) given(recycle bool) {
	if !recycle {
		l.keep.Store(true)
	}
}

var (
	heldFrames  = sync.Pool{New: func() any { return new(heldFrame) }}
	heldBatches = sync.Pool{New: func() any { return new(heldBatch) }}
)

// recycle is an owner letting go: the batch once answered, or the node.
func (f *heldFrame) recycle() {
	if f.letGo() {
		f.Release()
		heldFrames.Put(f)
	}
}

// releaseFrame is the node giving the frame back (state.ReleaseFrame).
func (f *heldFrame) releaseFrame(recycle bool) {
	f.given(recycle)
	f.recycle()
}

// Release gives the buffer back, keeping the batch's requests for the
// next (clearRequests).
func (b *heldBatch) Release() {
	clearRequests(b.Msg())
	b.Held.Release()
}

func (b *heldBatch) recycle() {
	if b.letGo() {
		b.Release()
		heldBatches.Put(b)
	}
}

// releaseFrame is the node giving the batch back (state.ReleaseFrame).
func (b *heldBatch) releaseFrame(recycle bool) {
	b.given(recycle)
	b.recycle()
}

func (ps *publishStream) add(base uint64, n, cost int, ev *state.PublishedBatch, order []uint32, held received) {
	ps.mu.Lock()
	ps.batches = append(ps.batches, pubBatch{base: base, position: ps.next, n: n, cost: cost, ev: ev, order: order, held: held})
	ps.next += uint64(n)
	ps.mu.Unlock()
}

// answerPublishes is called by the loop; answer is for anything else.
func (ps *publishStream) answerPublishes(cs []state.CompletePublish) {
	ps.mu.Lock()
	ps.noteBusy()
	failed := false
	for i := range cs {
		ps.answers = append(ps.answers, publishAnswer{req: cs[i].Req, err: cs[i].Err})
		failed = failed || cs[i].Err != nil
	}
	due := ps.acks.answered(len(cs), failed)
	ps.mu.Unlock()
	if due {
		ps.poke()
	}
}

// noteBusy keeps whether the node was pushing to peers as the answers
// being filed were made; ps.mu is held.
func (ps *publishStream) noteBusy() {
	if ps.busy != nil {
		ps.narrow = ps.busy.Load()
	}
}

// answerRun is called by the loop for n requests from first, each
// published.
func (ps *publishStream) answerRun(first uint64, n int) {
	ps.mu.Lock()
	ps.noteBusy()
	ps.answers = append(ps.answers, publishAnswer{req: first, n: n})
	due := ps.acks.answered(n, false)
	ps.mu.Unlock()
	if due {
		ps.poke()
	}
}

// poke wakes the goroutine that sends acks.
func (ps *publishStream) poke() {
	select {
	case ps.wake <- struct{}{}:
	default:
	}
}

func (ps *publishStream) answer(e state.Effect) {
	if c, ok := e.(*state.CompletePublish); ok {
		ps.answerPublishes([]state.CompletePublish{*c})
	}
}

func (ps *publishStream) idle() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.batches) == 0 && len(ps.answers) == 0 && !ps.acks.asked
}

// settled is what one settle moved: the stream's count of requests
// answered with none unanswered before them, whether it moved, and the
// budget the finished batches free.
type settled struct {
	accepted uint64
	moved    bool
	freed    int
	narrow   bool // publishStream.narrow
}

// settle applies the answers waiting, calling fail for each failed request
// with its stream position, in ascending request id (which is ascending
// position but in a batch with an order).
func (ps *publishStream) settle(spare []publishAnswer, fail func(index uint64, err error)) ([]publishAnswer, settled) {
	ps.mu.Lock()
	got := ps.answers
	ps.answers = spare[:0]
	st := settled{narrow: ps.narrow}
	slices.SortFunc(got, func(a, b publishAnswer) int { return cmp.Compare(a.req, b.req) })
	i := 0 // answers and batches both ascend: the scan goes on from the last answer's batch
	for _, a := range got {
		for i < len(ps.batches) && a.req >= ps.batches[i].base+uint64(ps.batches[i].n) {
			i++
		}
		if i == len(ps.batches) || a.req < ps.batches[i].base {
			continue // not ours: cannot happen
		}
		b := &ps.batches[i]
		if a.n > 1 { // a run, published: one frame's records, in one batch
			b.done += int(min(uint64(a.n), b.base+uint64(b.n)-a.req))
			continue
		}
		b.done++
		if a.err != nil {
			k := a.req - b.base
			if b.order != nil {
				k = uint64(b.order[k])
			}
			fail(b.position+k, a.err)
		}
	}
	k := 0
	for k < len(ps.batches) && ps.batches[k].done == ps.batches[k].n {
		b := &ps.batches[k]
		st.freed += b.cost
		ps.prefix += uint64(b.n)
		clear(b.ev.Pubs) // let go of the payloads
		publishEvents.Put(b.ev)
		if b.held != nil {
			b.held.recycle() // answered: the node has copied what it keeps of it
		}
		k++
	}
	if k > 0 {
		n := copy(ps.batches, ps.batches[k:])
		clear(ps.batches[n:])
		ps.batches = ps.batches[:n]
		st.moved = true
	}
	st.accepted = ps.prefix
	ps.mu.Unlock()
	clear(got)
	return got, st
}

// publishCost is what a request holds of its stream's budget while it
// waits: its payload and a kilobyte for everything else.
func publishCost(r *sidecarpb.PublishRequest) int { return len(r.GetPayload()) + 1024 }

// clearRequests empties a decoded batch for the next, keeping its
// requests for the decoder to reuse, as the batch's ResetVT would but
// without protobuf-go's Reset on each: that stores the type's information
// in every request with an atomic write, which was 3% of a daemon's CPU
// under local-1to1-stream. A zero request is as valid a message: protobuf-go
// sets that information again when reflection first asks for it.
func clearRequests(b *sidecarpb.PublishBatch) {
	for _, r := range b.Requests {
		*r = sidecarpb.PublishRequest{}
	}
	b.Requests = b.Requests[:0]
}
