package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/vtcodec"
	pb "github.com/nexusd/nexusd/proto/sidecarpb"
)

// The packed path (docs/packed.md): nexusd driven over PublishPacked and
// SubscribePacked with raw gRPC stubs and internal/packed, as the stream
// mode drives PublishStream and Subscribe. NATS runs in these scenarios as
// in their v1 counterparts (same payload, same counts), for the ratio; the
// raw gRPC relay has no packed RPCs, so its cells are n/a.

// A packed publisher's frames: at most this many records and bytes, as
// the daemon's own subscription frames.
const (
	packedFrameRecords = 1024
	packedFrameBytes   = 256 << 10
)

// packedInFlight caps the records a packed publisher has sent beyond the
// daemon's count: the daemon's own credit (4096 records before its first
// ack, 8192 in its acks, 4096 while it pushes to peers) is never more.
// With the block policy a subscriber holds up to 8192 publishes waiting,
// so a publisher that uses all its credit loses nothing. (When that was
// 1024, obeying only the credit lost 1-4% of the messages in
// local-1to1-packed, and this was capped at 1024, one frame in flight.)
const packedInFlight = 2 * packed.InitialWindow

// packedSys is a started nexusd system whose publishers and subscribers
// use the packed RPCs; a unary publisher (the warm-up's) stays v1.
type packedSys struct {
	*nexusdSys
	mu  sync.Mutex
	err error // the first thing a subscriber found wrong
}

// packedOf wraps a nexusd system for the packed path; NATS is returned
// as it is, and the relay, which has no packed RPCs, is not applicable.
func packedOf(sys system) (system, *packedSys, error) {
	switch s := sys.(type) {
	case *nexusdSys:
		p := &packedSys{nexusdSys: s}
		return p, p, nil
	case *keyedSys:
		p := &packedSys{nexusdSys: s.nexusdSys}
		return p, p, nil
	case *relaySys:
		return nil, nil, errNotApplicable
	}
	return sys, nil, nil
}

func (s *packedSys) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *packedSys) failed() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *packedSys) publisher(node int, mode string) (publisher, error) {
	if mode == "unary" {
		return s.nexusdSys.publisher(node, mode)
	}
	return newPackedPublisher(s.conns[node])
}

func (s *packedSys) subscribe(node int, _ int, on func([]byte)) (func(), error) {
	return packedSubscribe(s.conns[node], on, s.fail)
}

// packedTP is throughput on the packed path; NATS runs as in
// local-1to1-stream and cross-node.
func packedTP(pubNode, subNode int) func(system, string, string, time.Duration) (map[string]float64, error) {
	return windowedPackedTP(pubNode, subNode, 0)
}

// windowedPackedTP is packedTP with the publisher held to window messages
// not yet delivered (windowedThroughput), both systems alike.
func windowedPackedTP(pubNode, subNode int, window int64) func(system, string, string, time.Duration) (map[string]float64, error) {
	return func(sys system, _, _ string, dur time.Duration) (map[string]float64, error) {
		sys, ps, err := packedOf(sys)
		if err != nil {
			return nil, err
		}
		v, err := windowedThroughput(sys, pubNode, subNode, 1, "packed", 1, 64, window, dur)
		if err == nil {
			err = ps.failed()
		}
		return map[string]float64{"": v}, err
	}
}

// packedLat is latency at a fixed rate on the packed path; NATS runs as in
// latency-*-stream.
func packedLat(rate float64) func(system, string, string, time.Duration) (map[string]float64, error) {
	return func(sys system, _, _ string, dur time.Duration) (map[string]float64, error) {
		sys, ps, err := packedOf(sys)
		if err != nil {
			return nil, err
		}
		p, err := latency(sys, 0, 0, "packed", rate, dur)
		if err == nil {
			err = ps.failed()
		}
		if err != nil {
			return nil, err
		}
		return map[string]float64{"-p50": p["p50"], "-p90": p["p90"], "-p99": p["p99"], "-p99.9": p["p99.9"]}, nil
	}
}

// payloadQueue holds payloads copied out of publish calls, back to back.
type payloadQueue struct {
	data []byte
	ends []int // where each payload ends in data
	next int   // the first payload not yet taken
}

func (q *payloadQueue) len() int { return len(q.ends) - q.next }

func (q *payloadQueue) reset() { q.data, q.ends, q.next = q.data[:0], q.ends[:0], 0 }

// peek returns the next payload; the caller moves past it (next++).
func (q *payloadQueue) peek() []byte {
	start := 0
	if q.next > 0 {
		start = q.ends[q.next-1]
	}
	return q.data[start:q.ends[q.next]]
}

// packedPub publishes on PublishPacked with natural batching: publish
// copies the payload into a queue and returns; a sender goroutine takes
// whatever is queued when it is free (up to packedFrameRecords records,
// packedFrameBytes bytes and the credit left: the daemon's window, capped
// at packedInFlight), encodes it as one
// sourceless frame and sends it. There is no linger timer: a lone message
// goes at once, and frames grow only while the sender is busy or waits
// for credit. The sender reuses its encoder and the two
// queues it swaps with publish. It asks for lazy acks, as the Go client
// does: flush asks for one with an empty frame.
type packedPub struct {
	stream grpc.BidiStreamingClient[pb.PackedFrame, pb.PackedAck]
	cancel context.CancelFunc

	mu       sync.Mutex
	cond     sync.Cond     // any change below: queued, sent, acked, failed, closing
	in       *payloadQueue // publish appends here
	queued   uint64        // records handed to publish
	sent     uint64        // records sent (counted before Send, so an ack never outruns it)
	accepted uint64        // records the daemon processed (last ack)
	limit    uint64        // the credit: records may be sent up to this index, exclusive
	failures uint64
	failure  string // the first failure's reason
	err      error  // the stream broke
	closing  bool
	ask      bool // flush waits: the sender sends an empty frame once all is sent

	senderDone, recvDone chan struct{}

	// the sender's own
	out  *payloadQueue
	enc  packed.Encoder
	recs *[]byte // the buffer enc's records go into, until it goes to gRPC with a frame
	rec  packed.Record
}

func newPackedPublisher(conn *grpc.ClientConn) (*packedPub, error) {
	api := pb.NewSidecarServiceClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := api.PublishPacked(metadata.AppendToOutgoingContext(ctx, "nexusd-acks", "lazy"))
	if err != nil {
		cancel()
		return nil, err
	}
	p := &packedPub{stream: stream, cancel: cancel, in: &payloadQueue{}, out: &payloadQueue{},
		limit: min(packed.InitialWindow, packedInFlight), senderDone: make(chan struct{}), recvDone: make(chan struct{})}
	p.cond.L = &p.mu
	p.enc.Limits = packed.Limits{MaxRecords: packedFrameRecords, MaxFrameBytes: packedFrameBytes}
	p.rec.Topic = benchTopic
	go p.receive()
	go p.send()
	return p, nil
}

func (p *packedPub) publish(b []byte) error {
	p.mu.Lock()
	for p.err == nil && (len(p.in.ends) >= packedFrameRecords || len(p.in.data) >= packedFrameBytes) {
		p.cond.Wait() // a frame's worth is waiting: let the sender catch up
	}
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		return err
	}
	wake := len(p.in.ends) == 0
	p.in.data = append(p.in.data, b...)
	p.in.ends = append(p.in.ends, len(p.in.data))
	p.queued++
	p.mu.Unlock()
	if wake {
		p.cond.Broadcast()
	}
	return nil
}

// send is the sender goroutine.
func (p *packedPub) send() {
	defer close(p.senderDone)
	for {
		p.mu.Lock()
		for p.err == nil {
			ready := p.out.len() + len(p.in.ends)
			if (ready > 0 && p.sent < p.limit) || (ready == 0 && (p.closing || p.ask)) {
				break
			}
			p.cond.Wait()
		}
		if p.err == nil && p.out.len()+len(p.in.ends) == 0 && p.ask {
			p.ask = false
			p.mu.Unlock()
			if err := p.askAck(); err != nil {
				p.fail(err)
				return
			}
			continue
		}
		if p.err != nil || p.out.len()+len(p.in.ends) == 0 {
			p.mu.Unlock()
			return
		}
		room := p.limit - p.sent
		if p.out.len() == 0 {
			p.swap()
		}
		p.mu.Unlock()
		if err := p.sendFrame(room); err != nil {
			p.fail(err)
			return
		}
	}
}

// fail ends the publisher with err, unless it has ended already.
func (p *packedPub) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// askAck sends a frame of no records: on a lazy stream, the daemon acks
// once every record before it is processed.
func (p *packedPub) askAck() error {
	p.enc.Reset()
	frame, err := vtcodec.EncodeNested(nil, p.enc.Size(), p.enc.AppendFrame, 1)
	if err != nil {
		return err
	}
	if err := p.stream.SendMsg(frame); err != nil {
		return fmt.Errorf("publish packed: %w", err)
	}
	return nil
}

// swap gives publish the drained queue and takes what it queued; p.mu is
// held.
func (p *packedPub) swap() {
	p.out.reset()
	p.in, p.out = p.out, p.in
	p.cond.Broadcast() // publish may be waiting for room
}

// sendFrame sends one frame of at most room records, taken from the
// sender's queue and, when that runs dry, from what publish queued since.
func (p *packedPub) sendFrame(room uint64) error {
	p.enc.Reset()
	if p.recs == nil {
		p.recs = vtcodec.Buffer(packedFrameBytes)
	}
	p.enc.UseRecords(*p.recs)
	defer p.enc.UseRecords(nil) // the records' buffer may be gRPC's after this
	for uint64(p.enc.Count()) < room {
		if p.out.len() == 0 {
			p.mu.Lock()
			more := len(p.in.ends) > 0
			if more {
				p.swap()
			}
			p.mu.Unlock()
			if !more {
				break
			}
		}
		p.rec.Payload = p.out.peek()
		if err := p.enc.Append(&p.rec); err != nil {
			if errors.Is(err, packed.ErrFrameFull) {
				break
			}
			return err
		}
		p.out.next++
	}
	n := uint64(p.enc.Count())
	if n == 0 {
		return nil
	}
	// As the Go client does: the header in a buffer of its own, then the
	// records in the buffer they were encoded into, both gRPC's to write
	// out and free (vtcodec.HandOver).
	frame, err := vtcodec.EncodeNestedTail(nil, p.enc.Size(), p.enc.AppendHeader, vtcodec.HandOver(p.enc.Records(), &p.recs), 1)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.sent += n
	p.mu.Unlock()
	if err := p.stream.SendMsg(frame); err != nil {
		return fmt.Errorf("publish packed: %w", err)
	}
	return nil
}

// receive reads acks: the count, the credit and any failures.
func (p *packedPub) receive() {
	defer close(p.recvDone)
	for {
		ack, err := p.stream.Recv()
		p.mu.Lock()
		if err != nil {
			if p.err == nil {
				p.err = fmt.Errorf("publish packed stream ended: %w", err)
			}
			p.cond.Broadcast()
			p.mu.Unlock()
			return
		}
		a := packed.Ack{Accepted: ack.GetAccepted(), Window: ack.GetWindow()}
		for _, f := range ack.GetFailures() {
			a.Failures = append(a.Failures, packed.Failure{Index: f.GetIndex(), Code: packed.Code(f.GetCode()), Retry: f.GetRetry(), Reason: f.GetReason()})
			if p.failures == 0 {
				p.failure = fmt.Sprintf("record %d: code %d: %s", f.GetIndex(), f.GetCode(), f.GetReason())
			}
			p.failures++
		}
		if err := a.Check(p.accepted, p.sent); err != nil && p.err == nil {
			p.err = err
		}
		p.accepted, p.limit = a.Accepted, min(a.Limit(), a.Accepted+packedInFlight)
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// flush returns when the daemon has processed every record published; a
// record it did not take is an error.
func (p *packedPub) flush() error {
	timer := time.AfterFunc(30*time.Second, func() {
		p.mu.Lock()
		if p.err == nil {
			p.err = fmt.Errorf("timed out after 30s waiting for publish acks")
		}
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.accepted < p.queued {
		p.ask = true
		p.cond.Broadcast()
	}
	for p.err == nil && p.accepted < p.queued {
		p.cond.Wait()
	}
	switch {
	case p.accepted < p.queued:
		return p.err
	case p.failures > 0:
		return fmt.Errorf("%d of %d records failed; the first: %s", p.failures, p.queued, p.failure)
	}
	return nil
}

func (p *packedPub) close() {
	p.mu.Lock()
	p.closing = true
	p.cond.Broadcast()
	p.mu.Unlock()
	<-p.senderDone
	p.stream.CloseSend()
	p.cancel()
	<-p.recvDone
}

// packedSubscribe subscribes on SubscribePacked and hands on every live
// message, decoded from its frame by packed.Decoder (and any message a
// v1 event carries). What it finds wrong goes to fail.
func packedSubscribe(conn *grpc.ClientConn, on func([]byte), fail func(error)) (func(), error) {
	api := pb.NewSidecarServiceClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := api.SubscribePacked(ctx, &pb.SubscribePackedRequest{Open: &pb.SubscribePackedRequest_Subscribe{
		Subscribe: &pb.SubscribeRequest{Topics: []string{benchTopic}, BackpressurePolicy: subscriberPolicy}}})
	if err != nil {
		cancel()
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	if first.GetEvent().GetSubscriptionInfo() == nil { // the subscription exists
		cancel()
		return nil, fmt.Errorf("SubscribePacked: the first event is %v, not subscription_info", first)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var dec packed.Decoder
		var held vtcodec.Held[pb.PackedEvent, *pb.PackedEvent] // decoded in place
		defer held.Release()
		for {
			held.Release()
			err := stream.RecvMsg(&held)
			ev := held.Msg()
			if err != nil {
				if ctx.Err() == nil {
					fail(fmt.Errorf("SubscribePacked ended: %w", err))
				}
				return
			}
			if f := ev.GetMessages(); f != nil {
				if err := dec.Reset(f.GetFrame()); err != nil {
					fail(fmt.Errorf("SubscribePacked frame refused: %w", err))
					return
				}
				for dec.Next() {
					on(dec.Record().Payload)
				}
				continue
			}
			switch e := ev.GetEvent().GetEvent().(type) {
			case *pb.MessageEvent_Message:
				on(e.Message.GetPayload())
			case *pb.MessageEvent_Batch:
				for _, m := range e.Batch.GetMessages() {
					on(m.GetPayload())
				}
			}
		}
	}()
	return func() { cancel(); wg.Wait() }, nil
}
