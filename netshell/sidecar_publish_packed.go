package netshell

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// The credit PublishPacked gives: a sender may have sent this many
// records beyond those acknowledged. Before the first ack it is
// publishPackedWindow (packed.InitialWindow, what every sender may
// assume); an ack gives publishPackedAckWindow, twice that, unless the
// node is pushing to peers (state.Node.PeersBusy): its publishes then go
// at the pace of the links' push windows, more in flight would only wait
// in their backlogs, and the ack gives the first credit again.
//
// On two cores shared by a publisher, the daemon and a subscriber, four
// frames of 1024 records were often not enough to cover an ack's way back
// to the publisher and the next frame's way in: the daemon waited for
// publish frames 15% of the time, and with eight frames local-1to1-packed
// ran 7-15% faster (BENCHMARKS.md, "Since the run of 10:10").
//
// A smaller window than the last may leave a sender waiting longer, never
// failing: once it has acked, the daemon refuses only records past
// accepted plus the wider window, so a sender that obeys the last ack it
// read never passes it. The byte budget (PublishStreamBytes) is what holds
// back a sender of large payloads, by leaving its frames unread.
const (
	publishPackedWindow    = packed.InitialWindow
	publishPackedAckWindow = 2 * packed.InitialWindow
)

// PublishPacked is PublishStream in packed frames (docs/packed.md): a
// reader goroutine validates each frame whole, turns its records into one
// PublishedBatch with consecutive request ids, and posts it; this
// goroutine acknowledges by cumulative count, with the credit window and
// each failure by its record index. A frame that is not a valid sourceless
// frame ends the stream, and none of its records is published.
func (s *sidecarServer) PublishPacked(stream grpc.BidiStreamingServer[sidecarpb.PackedFrame, sidecarpb.PackedAck]) error {
	ctx := stream.Context()
	lazy, err := acksWanted(ctx)
	if err != nil {
		return err
	}
	ps := &publishStream{wake: make(chan struct{}, 1), acks: ackPolicy{lazy: lazy}, busy: &s.loop.pressure.busy}
	room := newBudget(s.o.PublishStreamBytes)
	readErr := make(chan error, 1)
	go func() { readErr <- s.readPacked(ctx, stream, ps, room) }()
	var got []publishAnswer
	var ack sidecarpb.PackedAck
	var failed []*sidecarpb.PackedFailure // not yet below accepted
	return s.loop.serveAnswers(ctx, ps.wake, readErr, ps.idle, func() error {
		var st settled
		got, st = ps.settle(got, func(index uint64, err error) {
			failed = append(failed, &sidecarpb.PackedFailure{
				Index: index, Code: uint32(grpcCode(err)), Retry: state.CodeOf(err) == state.Unavailable, Reason: err.Error()})
		})
		room.give(st.freed)
		// An ack lists the failures among the records it newly counts,
		// in ascending index: answers come in any order, batches whole.
		slices.SortFunc(failed, func(a, b *sidecarpb.PackedFailure) int { return cmp.Compare(a.Index, b.Index) })
		k := 0
		for k < len(failed) && failed[k].Index < st.accepted {
			k++
		}
		if !ps.ackDue(st.accepted, k > 0, k < len(failed)) {
			return nil
		}
		ack.Accepted, ack.Window, ack.Failures = st.accepted, publishPackedAckWindow, failed[:k]
		if st.narrow {
			ack.Window = publishPackedWindow
		}
		ps.mu.Lock()
		ps.acked = true // the wider window from now on (readPacked)
		ps.mu.Unlock()
		err := stream.Send(&ack)
		failed = append(failed[:0], failed[k:]...)
		if err != nil {
			return rpcError(err)
		}
		return nil
	})
}

// readPacked reads PublishPacked frames until the stream ends or fails.
func (s *sidecarServer) readPacked(ctx context.Context, stream grpc.BidiStreamingServer[sidecarpb.PackedFrame, sidecarpb.PackedAck],
	ps *publishStream, room *budget) error {
	dec := packed.Decoder{Limits: s.packedLimits()}
	var topics []string // the frame's topic table, as strings of their own
	var received uint64
	var refused []publishAnswer // req: the record's index in its frame, then its id
	// Each frame is kept until its batch is answered and the node gives
	// it back: the node keeps most payloads where they are, in the frame,
	// and copies the others (PublishedBatch.Frame). A frame whose batch
	// is still unanswered when the stream ends is left to the collector.
	var f *heldFrame
	defer func() {
		if f != nil {
			f.Release()
		}
	}()
	var copies arena
	for {
		if f == nil {
			f = heldFrames.Get().(*heldFrame)
		}
		f.Release() // a frame that posted nothing
		if err := stream.RecvMsg(f); err != nil {
			if ps.acks.lazy {
				ps.askAck(received) // the end: what is left is acked
			}
			return err
		}
		if err := dec.Reset(f.Msg().GetFrame()); err != nil {
			return ps.refuse(frameStatus(received, err), received)
		}
		n := dec.Count()
		if n == 0 {
			if ps.acks.lazy { // asks for an ack
				ps.askAck(received)
			}
			continue
		}
		if dec.Sources() > 0 {
			return ps.refuse(status.Errorf(codes.InvalidArgument, "packed frame at record %d has a source table: PublishPacked frames are sourceless (the daemon numbers and names what it publishes); no record of this frame was taken", received), received)
		}
		ps.mu.Lock()
		limit := ps.prefix + publishPackedWindow
		if ps.acked {
			limit = ps.prefix + publishPackedAckWindow
		}
		ps.mu.Unlock()
		if received+uint64(n) > limit {
			return ps.refuse(status.Errorf(codes.ResourceExhausted, "the frame of records %d to %d passes the credit, which ends at record %d (%d past it): no record of this frame was taken; wait for acks before sending past the credit",
				received, received+uint64(n)-1, limit-1, received+uint64(n)-limit), received)
		}
		topics = topics[:0]
		for i := range dec.Topics() {
			// Strings of their own: a message outlives its frame in the
			// node's rings, and must not keep the whole frame alive.
			topics = append(topics, strings.Clone(dec.Topic(i)))
		}
		// The frame's bytes are what its records hold of the budget: the
		// frame is kept until its batch is answered, and each topic is one
		// string per frame.
		cost := len(f.Msg().GetFrame()) + n*packedRecordCost
		if !room.tryTake(cost) {
			if ps.acks.lazy {
				// Room comes as answers are settled, which a lazy
				// stream does only when an ack is due: one is asked for.
				ps.askAck(received)
			}
			if err := room.take(ctx, cost); err != nil {
				return err
			}
		}
		// The node answers a frame's publishes by consecutive ids, so
		// records refused here take the ids after those it publishes,
		// and the batch remembers which record each id is.
		base := s.loop.newIDs(n)
		ev := ps.event(n)
		if bypassNode && bypassPublish(&dec) { // never in the daemon (bypass.go)
			ev.Pubs = ev.Pubs[:0]
			received += uint64(n)
			ps.add(base, n, cost, ev, nil, f)
			f = nil
			ps.answerRun(base, n)
			continue
		}
		ev.Pubs, ev.ByNumber = ev.Pubs[:0], true // acks count records: no ids
		refused = refused[:0]
		for i := 0; dec.Next(); i++ {
			r := dec.Record()
			if err := publishOnly(r); err != nil {
				refused = append(refused, publishAnswer{req: uint64(i), err: err})
				continue
			}
			// The payload is the frame's, which the node keeps in place
			// or copies; the texts are copied out (received_frames.go).
			// Filled in place, every field: the batch is reused.
			k := len(ev.Pubs)
			ev.Pubs = ev.Pubs[:k+1]
			p := &ev.Pubs[k]
			p.Req, p.Topic, p.Retain, p.TTLMs = base+uint64(k), topics[r.TopicIndex], r.Retain, r.TTLMs
			p.Payload = r.Payload
			p.Extras = copies.extras(r.ContentType, r.Correlation, r.ReplyTo)
		}
		copies.done()
		var order []uint32
		if len(refused) > 0 {
			order = make([]uint32, 0, n)
			next := 0 // record index of the next published one
			for _, f := range refused {
				for ; next < int(f.req); next++ {
					order = append(order, uint32(next))
				}
				next++
			}
			for ; next < n; next++ {
				order = append(order, uint32(next))
			}
			for k := range refused {
				order = append(order, uint32(refused[k].req))
				refused[k].req = base + uint64(len(ev.Pubs)+k)
			}
		}
		ev.Borrowed = true
		if len(ev.Pubs) > 0 {
			// Lent: the node may keep payloads where they are, and gives
			// the frame back when nothing it holds reads them.
			ev.Frame, ev.FrameBytes = f, f.Size()
			f.lend()
		}
		received += uint64(n)
		ps.add(base, n, cost, ev, order, f)
		f = nil // the batch's now
		if len(refused) > 0 {
			ps.answerRefused(refused)
		}
		if len(ev.Pubs) == 0 {
			continue
		}
		if err := s.loop.pressure.wait(ctx, s.loop.clk, s.o.BlockTimeout); err != nil {
			return err
		}
		if err := s.loop.post(ctx, input{ev: ev, reply: ps}); err != nil {
			return err
		}
	}
}

// packedRecordCost is what a packed record holds of its stream's budget
// beyond its bytes in the frame: the Published and Message around them.
const packedRecordCost = 256

// packedLimits are the frames the sidecar takes: as large as gRPC lets in,
// with payloads judged by the node (a record over --max-payload fails by
// its index, as on PublishStream, instead of ending the stream).
func (s *sidecarServer) packedLimits() packed.Limits {
	n := sidecarMaxRecv(s.o)
	return packed.Limits{MaxFrameBytes: n, MaxPayloadBytes: n}
}

// publishOnly refuses a record carrying what only the daemon may set.
func publishOnly(r *packed.Record) error {
	var what string
	switch {
	case r.TimestampMs != 0:
		what = "a timestamp"
	case r.Seq != 0 || r.PrevSeq != 0:
		what = "a sequence"
	case r.ID != "":
		what = "a message id"
	case r.DroppedFrom != 0:
		what = "dropped_from"
	case r.SyncOnly:
		what = "the sync-only flag"
	case len(r.Groups) > 0:
		what = "queue groups"
	default:
		return nil
	}
	return &state.Error{Code: state.Invalid, Msg: fmt.Sprintf("record on %q carries %s: the daemon sets it; leave it out", r.Topic, what)}
}

// frameStatus is the status that ends a PublishPacked stream whose frame
// was refused; first is the stream index of the frame's first record.
func frameStatus(first uint64, err error) error {
	var pe *packed.Error
	if errors.As(err, &pe) && pe.Record >= 0 {
		return frameRefused(err, fmt.Sprintf(" (stream record %d); no record of this frame was taken", first+uint64(pe.Record)))
	}
	return frameRefused(err, fmt.Sprintf(" (the frame from stream record %d); no record of this frame was taken", first))
}
