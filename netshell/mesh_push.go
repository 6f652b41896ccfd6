package netshell

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/state"
)

// errAckTimeout breaks a push stream whose peer stopped acknowledging.
var errAckTimeout = errors.New("peer did not acknowledge pushes within the call timeout")

// pushItem is one Push effect waiting for, or travelling on, a stream. Its
// envelope is the effect's copy (the payload is the node's immutable one).
type pushItem struct {
	call uint64
	env  state.Envelope
}

// pushLink is the ordered push path to one peer: the loop queues Push
// effects, and the link's goroutine packs whatever is queued into batches
// (up to MaxPushBatch messages or MaxPushBatchBytes) on one
// PushMessageBatchStream, opened on demand. Cumulative acks complete the
// calls in order. When the stream breaks, every push not yet acknowledged
// fails, newest first, so the node puts them back at the front of its
// backlog in their original order; the node retries after its backoff and
// the link opens a new stream. A peer without the batch stream (v1) gets
// PushMessageStream, one envelope per frame.
type pushLink struct {
	m       *meshClient
	pc      *peerConn
	wake    chan struct{}
	started sync.Once
	stopped chan struct{} // closed when run returns
	v1      atomic.Bool

	mu     sync.Mutex
	queue  fifo[pushItem]
	cur    *pushStream
	closed bool
	began  bool // something was ever pushed: the stream keeps the connection
}

// pushStream is one open stream and the pushes on it not yet acknowledged.
// Its fields but cancel and the gRPC streams are guarded by the link's mu.
type pushStream struct {
	k        *pushLink
	ctx      context.Context
	cancel   context.CancelFunc
	batch    grpc.BidiStreamingClient[meshpb.MessageBatch, meshpb.BatchAck]
	v1       grpc.BidiStreamingClient[meshpb.MessageEnvelope, meshpb.Ack]
	inflight fifo[pushItem]
	marks    []sentMark // when each batch went out, oldest first
	sent     uint64     // envelopes sent on the stream
	acked    uint64     // envelopes acknowledged
	broken   bool
}

type sentMark struct {
	end uint64 // sent count after the batch
	at  time.Time
}

func newPushLink(m *meshClient, pc *peerConn) *pushLink {
	return &pushLink{m: m, pc: pc, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// enqueue is called by the loop; it never blocks.
func (k *pushLink) enqueue(it pushItem) {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		k.m.wg.Go(func() { k.m.done(&state.PushCompleted{Call: it.call, Err: errPeerClosed}) })
		return
	}
	k.queue.push(it)
	k.began = true
	k.mu.Unlock()
	k.started.Do(func() { k.m.wg.Go(k.run) })
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// busy reports whether the link has ever started its stream: a peer we
// push to keeps its connection.
func (k *pushLink) busy() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.began
}

// wait returns once the link's goroutine has ended (or never started);
// the peer's context must have ended.
func (k *pushLink) wait() {
	k.started.Do(func() {
		k.mu.Lock()
		k.closed = true
		k.mu.Unlock()
		close(k.stopped)
	})
	<-k.stopped
}

func (k *pushLink) run() {
	defer close(k.stopped)
	for {
		select {
		case <-k.pc.ctx.Done():
			k.mu.Lock()
			k.closed = true
			k.mu.Unlock()
			if s := k.current(); s != nil {
				k.breakStream(s, errPeerClosed)
			}
			k.failQueued(errPeerClosed)
			return
		case <-k.wake:
		}
		for k.sendOne() {
		}
	}
}

func (k *pushLink) current() *pushStream {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cur
}

// sendOne sends one batch from the queue; false once the queue is empty.
func (k *pushLink) sendOne() bool {
	k.mu.Lock()
	empty, s := k.queue.len() == 0, k.cur
	k.mu.Unlock()
	if empty || k.pc.ctx.Err() != nil {
		return false
	}
	if s == nil {
		var err error
		if s, err = k.open(); err != nil {
			k.m.log.Debug("cannot open push stream", "peer", k.pc.id, "addr", k.pc.addr, "err", err)
			k.failQueued(err)
			return false
		}
	}
	k.mu.Lock()
	if s.broken {
		k.mu.Unlock()
		return true // the break failed the queue; whatever came since gets a new stream
	}
	n, bytes := 0, 0
	for n < k.queue.len() && n < k.m.o.MaxPushBatch && (n == 0 || bytes+len(k.queue.at(n).env.Payload) <= k.m.o.MaxPushBatchBytes) {
		bytes += len(k.queue.at(n).env.Payload) + len(k.queue.at(n).env.Topic)
		n++
	}
	batch := k.queue.take(make([]pushItem, 0, n), n)
	s.inflight.push(batch...)
	s.sent += uint64(n)
	s.marks = append(s.marks, sentMark{end: s.sent, at: k.m.clk.Now()})
	k.mu.Unlock()
	if err := s.send(batch); err != nil {
		k.breakStream(s, err)
	}
	return true
}

func (k *pushLink) open() (*pushStream, error) {
	ctx, cancel := context.WithCancel(k.pc.ctx)
	s := &pushStream{k: k, ctx: ctx, cancel: cancel}
	var err error
	if k.v1.Load() {
		s.v1, err = k.pc.client.PushMessageStream(ctx)
	} else {
		s.batch, err = k.pc.client.PushMessageBatchStream(ctx)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	k.m.counters.pushStreams.Add(1)
	k.mu.Lock()
	k.cur = s
	k.mu.Unlock()
	k.m.wg.Go(s.receive)
	k.m.wg.Go(s.watch)
	return s, nil
}

func (s *pushStream) send(items []pushItem) error {
	if s.v1 != nil {
		for i := range items {
			if err := s.v1.Send(envelopeToProto(&items[i].env)); err != nil {
				return err
			}
		}
		return nil
	}
	b := &meshpb.MessageBatch{Messages: make([]*meshpb.MessageEnvelope, len(items))}
	envs := make([]meshpb.MessageEnvelope, len(items)) // one allocation for the batch
	for i := range items {
		fillEnvelopeProto(&envs[i], &items[i].env)
		b.Messages[i] = &envs[i]
	}
	return s.batch.Send(b)
}

// receive reads acknowledgements until the stream ends. It first checks the
// instance that answers is the peer we push to.
func (s *pushStream) receive() {
	k := s.k
	var hdr interface{ Get(string) []string }
	var err error
	if s.v1 != nil {
		hdr, err = s.v1.Header()
	} else {
		hdr, err = s.batch.Header()
	}
	if err == nil {
		if ids := hdr.Get(instanceHeader); len(ids) > 0 && ids[0] != k.pc.id {
			err = fmt.Errorf("%s is now instance %s, not %s", k.pc.addr, ids[0], k.pc.id)
		}
	}
	var count uint64
	for err == nil {
		var refused []*meshpb.Ack
		if s.v1 != nil {
			var a *meshpb.Ack
			if a, err = s.v1.Recv(); err == nil {
				count++
				if !a.GetSuccess() {
					refused = append(refused, a)
				}
			}
		} else {
			var a *meshpb.BatchAck
			if a, err = s.batch.Recv(); err == nil {
				count = a.GetAccepted()
				refused = a.GetFailures()
			}
		}
		if err == nil {
			err = s.onAck(count, refused)
		}
	}
	if status.Code(err) == codes.Unimplemented && s.v1 == nil {
		k.m.log.Info("peer has no batched push stream; using PushMessageStream (v1)", "peer", k.pc.id)
		k.v1.Store(true)
	}
	k.breakStream(s, err)
}

// acked completes the pushes a cumulative count acknowledges. A refused
// envelope is a final answer, not a transport failure: its call completes
// without error (retrying would be refused again and hold the link up),
// and the refusal is counted and logged.
func (s *pushStream) onAck(count uint64, refused []*meshpb.Ack) error {
	k := s.k
	k.mu.Lock()
	if s.broken {
		k.mu.Unlock()
		return nil
	}
	if count < s.acked || count > s.sent {
		k.mu.Unlock()
		return fmt.Errorf("peer acknowledged %d pushes of %d sent (before: %d)", count, s.sent, s.acked)
	}
	n := int(count - s.acked)
	done := make([]state.Event, n)
	events := make([]state.PushCompleted, n) // one allocation for the lot
	for i := range n {
		events[i].Call = s.inflight.at(i).call
		done[i] = &events[i]
	}
	s.inflight.drop(n)
	s.acked = count
	i := 0
	for i < len(s.marks) && s.marks[i].end <= count {
		i++
	}
	s.marks = append(s.marks[:0], s.marks[i:]...)
	k.mu.Unlock()
	if len(refused) > 0 {
		k.m.counters.pushRefused.Add(uint64(len(refused)))
		k.m.log.Warn("peer refused pushed messages", "peer", k.pc.id, "count", len(refused),
			"first", refused[0].GetMessageId(), "reason", refused[0].GetErrorMessage())
	}
	k.m.done(done...)
	return nil
}

// watch breaks the stream when the oldest unacknowledged batch has waited
// longer than CallTimeout.
func (s *pushStream) watch() {
	k := s.k
	t := k.m.clk.Ticker(k.m.o.CallTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		k.mu.Lock()
		late := !s.broken && len(s.marks) > 0 && k.m.clk.Since(s.marks[0].at) > k.m.o.CallTimeout
		k.mu.Unlock()
		if late {
			k.breakStream(s, errAckTimeout)
			return
		}
	}
}

// breakStream ends a stream once: every push on it not yet acknowledged,
// and every push queued behind them, fails.
func (k *pushLink) breakStream(s *pushStream, err error) {
	if k.pc.ctx.Err() != nil {
		err = errPeerClosed // whatever the stream said, this is why
	}
	k.mu.Lock()
	if s.broken {
		k.mu.Unlock()
		return
	}
	s.broken = true
	if k.cur == s {
		k.cur = nil
	}
	failed := append(s.inflight.takeAll(), k.queue.takeAll()...)
	k.mu.Unlock()
	s.cancel()
	if !errors.Is(err, errPeerClosed) {
		k.m.counters.pushStreamErrs.Add(1)
		k.m.log.Debug("push stream broke", "peer", k.pc.id, "addr", k.pc.addr, "unacked", len(failed), "err", err)
	}
	k.fail(failed, err)
}

func (k *pushLink) failQueued(err error) {
	k.mu.Lock()
	failed := k.queue.takeAll()
	k.mu.Unlock()
	k.fail(failed, err)
}

// fail completes items with err, newest first (see pushLink).
func (k *pushLink) fail(items []pushItem, err error) {
	if len(items) == 0 {
		return
	}
	evs := make([]state.Event, len(items))
	for i, it := range items {
		evs[len(items)-1-i] = &state.PushCompleted{Call: it.call, Err: err}
	}
	k.m.done(evs...)
}
