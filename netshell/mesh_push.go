package netshell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/pushstream"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/state"
)

// errAckTimeout breaks a push stream whose peer stopped acknowledging.
var errAckTimeout = errors.New("peer did not acknowledge pushes within the call timeout")

// pushLink is the ordered push path to one peer. The loop queues Push
// effects in its pushstream.Sender, which holds the push path's semantics
// (shared with the simulator): the link's goroutine packs whatever is
// queued into batches (up to MaxPushBatch messages or MaxPushBatchBytes)
// on one stream, opened on demand; cumulative answers complete the calls
// in order, a refusal that asks for a retry completes its call with an
// error so the node pushes it again; when the stream breaks, every push
// not yet answered, and every push queued behind them, fails.
//
// The stream is PushPacked, each batch one packed frame (with --mesh-packed;
// else PushMessageBatchStream). A peer that answers a stream with
// UNIMPLEMENTED gets the next older one from then on: PushMessageBatchStream,
// then PushMessageStream (v1), one envelope per frame.
type pushLink struct {
	m       *meshClient
	pc      *peerConn
	wake    chan struct{}
	started sync.Once
	stopped chan struct{} // closed when run returns
	wire    atomic.Int32  // the pushWire streams open with

	// used by the link's goroutine only, which encodes and sends
	enc     packed.Encoder
	recs    *[]byte // the buffer enc's records go into, gRPC's once the frame is sent (mesh_push_packed.go)
	split   packed.IDSplitter
	rec     packed.Record
	touched uint64                     // what reading ahead read (touchAhead), kept so it is read
	head    []byte                     // a PackedPush's fields before its frame, encoded
	batch   []pushstream.Item[outPush] // the batch being sent; its array is reused
	names   wireNames                  // the ids of pushes sent as envelopes

	mu     sync.Mutex
	s      pushstream.Sender[outPush]
	cur    *pushStream // the gRPC stream of s's open stream; nil when none
	closed bool
	began  bool // something was ever pushed: the stream keeps the connection
}

// outPush is a push as its link queues it: the node's message, which no
// one writes once an effect has handed it out, and what this push adds to
// its envelope (state.Push.Envelope). A queued push holds a pointer, not
// a copy of the message's 200 bytes of fields.
type outPush struct {
	msg         *state.Message
	prev        uint64
	droppedFrom uint64
	syncOnly    bool
	groups      []string
}

// queuedPush is one push the loop hands to a link: its call and itself.
type queuedPush struct {
	call uint64
	o    outPush
}

// set makes o what the link keeps of e, which is valid only until the
// node's next Step. It writes o in place, field by field: the loop fills
// its run of pushes with it, and a struct built aside and copied in whole
// is read back sixteen bytes at a time from stores of eight, which the
// CPU stalls on (state's outgoing.copyTo).
func (o *outPush) set(e *state.Push) {
	o.msg, o.prev, o.droppedFrom = e.Msg, e.Prev, e.DroppedFrom
	o.syncOnly = e.SyncOnly
	o.groups = e.Groups
}

// envelope is the envelope the push puts on the wire (state.Push.Envelope),
// its id rendered by names.
func (o *outPush) envelope(names *wireNames) state.Envelope {
	p := state.Push{Msg: o.msg, Prev: o.prev, DroppedFrom: o.droppedFrom, SyncOnly: o.syncOnly, Groups: o.groups}
	return p.EnvelopeWithID(names.wireID(o.msg))
}

// wireNames renders the ids of the messages a link pushes as envelopes
// (PushMessageBatchStream, PushMessageStream), as Message.WireID does but
// with the prefix of the last source kept: a link pushes this node's own
// messages, so the source is hashed once, not for every push.
type wireNames struct {
	source string
	prefix [10]byte
	ok     bool
	hashes int // sources hashed (a test's count)
}

func (w *wireNames) wireID(m *state.Message) string {
	if m.IDNum == 0 {
		return m.ID
	}
	if !w.ok || m.Source != w.source {
		w.source, w.prefix, w.ok = m.Source, packed.IDPrefix(m.Source, 0), true
		w.hashes++
	}
	return packed.IDFromPrefix(w.prefix, m.IDNum).String()
}

// failRun completes every push of run with err, off the loop's goroutine.
func (m *meshClient) failRun(run []queuedPush, err error) {
	evs := make([]state.Event, len(run))
	for i := range run {
		evs[i] = &state.PushCompleted{Call: run[i].call, Err: err}
	}
	m.wg.Go(func() { m.done(evs...) })
}

// pushStream is one open gRPC stream, the Sender's stream number id. One
// of packed, batch and v1 is set, as wire says.
type pushStream struct {
	k      *pushLink
	id     uint64
	ctx    context.Context
	cancel context.CancelFunc
	wire   pushWire
	packed grpc.BidiStreamingClient[meshpb.PackedPush, meshpb.BatchAck]
	batch  grpc.BidiStreamingClient[meshpb.MessageBatch, meshpb.BatchAck]
	v1     grpc.BidiStreamingClient[meshpb.MessageEnvelope, meshpb.Ack]
	done   []pushstream.Done[outPush] // used by receive only: the pushes an ack completes
}

// pushWire is an RPC a push link sends on, newest first: a peer that lacks
// one gets the next.
type pushWire int32

const (
	wirePacked pushWire = iota // PushPacked
	wireBatch                  // PushMessageBatchStream
	wireV1                     // PushMessageStream
)

// pushWires names the wires in metrics, by pushWire.
var pushWires = [...]string{"packed", "batch", "v1"}

func newPushLink(m *meshClient, pc *peerConn) *pushLink {
	k := &pushLink{m: m, pc: pc, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	k.enc.Limits = pushFrameLimits(m.o)
	k.s.IDOf = func(o *outPush) string { return o.msg.WireID() } // only for a refusal
	if !m.o.MeshPacked {
		k.wire.Store(int32(wireBatch))
	}
	return k
}

// downgrade moves the link from wire w to the next older one, once: the
// peer answered w with UNIMPLEMENTED.
func (k *pushLink) downgrade(w pushWire) {
	if w == wireV1 || !k.wire.CompareAndSwap(int32(w), int32(w+1)) {
		return
	}
	k.m.log.Info("peer lacks a push stream; using an older one", "peer", k.pc.id, "lacks", pushWires[w], "now", pushWires[w+1])
}

// enqueue is called by the loop; it never blocks.
func (k *pushLink) enqueue(run []queuedPush) {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		k.m.failRun(run, errPeerClosed)
		return
	}
	for i := range run {
		o := &run[i].o
		it := k.s.QueueSlot() // its id: IDOf
		it.Call, it.Bytes = run[i].call, len(o.msg.Payload)+len(o.msg.Topic)
		it.V = *o
	}
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
			cur := k.cur
			k.mu.Unlock()
			if cur != nil {
				k.breakStream(cur, errPeerClosed)
			}
			k.failQueued(errPeerClosed)
			return
		case <-k.wake:
		}
		for k.sendOne() {
		}
	}
}

// sendOne sends one batch of what is queued; false once nothing is.
func (k *pushLink) sendOne() bool {
	k.mu.Lock()
	queued, cur := k.s.Queued(), k.cur
	k.mu.Unlock()
	if queued == 0 || k.pc.ctx.Err() != nil {
		return false
	}
	if cur == nil {
		var err error
		if cur, err = k.open(); err != nil {
			k.m.log.Debug("cannot open push stream", "peer", k.pc.id, "addr", k.pc.addr, "err", err)
			k.failQueued(err)
			return false
		}
	}
	k.mu.Lock()
	if k.cur != cur {
		k.mu.Unlock()
		return true // it broke meanwhile; whatever is queued gets a new stream
	}
	k.batch = k.s.NextInto(k.batch, k.m.now(), pushstream.Limits{Messages: k.m.o.MaxPushBatch, Bytes: k.m.o.MaxPushBatchBytes})
	k.mu.Unlock()
	if len(k.batch) > 0 {
		// io.EOF: the peer ended the stream; receive reads why (its
		// status, e.g. the Unimplemented of a v1 peer) and breaks it.
		if err := cur.send(k.batch); err != nil && !errors.Is(err, io.EOF) {
			k.breakStream(cur, err)
		}
		clear(k.batch) // holds no message until the next batch
	}
	return true
}

func (k *pushLink) open() (*pushStream, error) {
	ctx, cancel := context.WithCancel(k.pc.ctx)
	s := &pushStream{k: k, ctx: ctx, cancel: cancel, wire: pushWire(k.wire.Load())}
	var err error
	switch s.wire {
	case wirePacked:
		if s.packed, err = k.pc.client.PushPacked(ctx); err == nil {
			var lacks bool
			if lacks, err = s.lacksPacked(); lacks {
				cancel()
				k.downgrade(wirePacked)
				return k.open()
			}
		}
	case wireBatch:
		s.batch, err = k.pc.client.PushMessageBatchStream(ctx)
	default:
		s.v1, err = k.pc.client.PushMessageStream(ctx)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	k.m.counters.pushStreams.Add(1)
	k.mu.Lock()
	var failed []pushstream.Item[outPush]
	s.id, failed = k.s.Open()
	k.cur = s
	k.mu.Unlock()
	k.fail(failed, errPeerClosed) // none: a stream is opened only when none is
	k.m.wg.Go(s.receive)
	k.m.wg.Go(s.watch)
	return s, nil
}

func (s *pushStream) send(items []pushstream.Item[outPush]) error {
	frames := &s.k.m.counters.pushFrames
	switch s.wire {
	case wirePacked:
		return s.sendPacked(items)
	case wireV1:
		for i := range items {
			env := items[i].V.envelope(&s.k.names)
			if err := s.v1.Send(envelopeToProto(&env)); err != nil {
				return err
			}
			frames[wireV1].Add(1)
		}
		return nil
	}
	b := &meshpb.MessageBatch{Messages: make([]*meshpb.MessageEnvelope, len(items)), SentAtMs: s.k.m.clk.Now().UnixMilli()}
	envs := make([]meshpb.MessageEnvelope, len(items)) // one allocation for the batch
	for i := range items {
		env := items[i].V.envelope(&s.k.names)
		fillEnvelopeProto(&envs[i], &env)
		b.Messages[i] = &envs[i]
	}
	frames[wireBatch].Add(1)
	return s.batch.Send(b)
}

// receive reads answers until the stream ends. It first checks the
// instance that answers is the peer we push to.
func (s *pushStream) receive() {
	k := s.k
	var hdr interface{ Get(string) []string }
	var err error
	switch s.wire {
	case wirePacked:
		hdr, err = s.packed.Header()
	case wireBatch:
		hdr, err = s.batch.Header()
	default:
		hdr, err = s.v1.Header()
	}
	if err == nil {
		if ids := hdr.Get(instanceHeader); len(ids) > 0 && ids[0] != k.pc.id {
			err = fmt.Errorf("%s is now instance %s, not %s", k.pc.addr, ids[0], k.pc.id)
		}
	}
	var count uint64
	for err == nil {
		var refused []*meshpb.Ack
		switch s.wire {
		case wireV1:
			var a *meshpb.Ack
			if a, err = s.v1.Recv(); err == nil {
				count++
				if !a.GetSuccess() {
					refused = append(refused, a)
				}
			}
		default:
			var a *meshpb.BatchAck
			if s.wire == wirePacked {
				a, err = s.packed.Recv()
			} else {
				a, err = s.batch.Recv()
			}
			if err == nil {
				count = a.GetAccepted()
				refused = a.GetFailures()
			}
		}
		if err == nil {
			err = s.onAck(count, refused)
		}
	}
	if status.Code(err) == codes.Unimplemented {
		k.downgrade(s.wire)
	}
	k.breakStream(s, err)
}

// onAck completes the pushes an answer counts. A refusal for good is a
// final answer (retrying would be refused again and hold the link up): its
// call completes without error, and the refusal is counted and logged. A
// refusal for now completes with an error, so the node pushes it again.
func (s *pushStream) onAck(count uint64, refused []*meshpb.Ack) error {
	k := s.k
	if len(refused) == 0 {
		// The usual answer: everything it counts taken, for one event.
		k.mu.Lock()
		calls, err := k.s.AckCalls(s.id, count) // the node's until it steps it
		k.mu.Unlock()
		if err == nil && len(calls) > 0 {
			k.m.done(&state.PushesCompleted{Calls: calls})
		}
		return err
	}
	k.mu.Lock()
	done, err := k.s.AckInto(s.done, s.id, count, refusalsFromProto(refused))
	k.mu.Unlock()
	s.done = done
	defer clear(done) // holds no message until the next ack
	if err != nil {
		return err
	}
	evs := make([]state.Event, len(done))
	events := make([]state.PushCompleted, len(done)) // one allocation for the lot
	for i := range done {
		events[i] = state.PushCompleted{Call: done[i].Call, Err: done[i].Err}
		evs[i] = &events[i]
	}
	for _, a := range refused {
		if a.GetRetry() {
			k.m.counters.pushRetried.Add(1)
		} else {
			k.m.counters.pushRefused.Add(1)
		}
	}
	k.m.log.Debug("peer refused pushed messages", "peer", k.pc.id, "count", len(refused),
		"first", refused[0].GetMessageId(), "retry", refused[0].GetRetry(), "reason", refused[0].GetErrorMessage())
	k.m.done(evs...)
	return nil
}

// watch breaks the stream when its oldest unanswered batch has waited
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
		late, _ := k.s.Overdue(k.m.now(), k.m.o.CallTimeout)
		late = late && k.cur == s
		k.mu.Unlock()
		if late {
			k.breakStream(s, errAckTimeout)
			return
		}
	}
}

// breakStream ends a stream once: every push on it not yet answered, and
// every push queued behind them, fails.
func (k *pushLink) breakStream(s *pushStream, err error) {
	if k.pc.ctx.Err() != nil {
		err = errPeerClosed // whatever the stream said, this is why
	}
	k.mu.Lock()
	if k.cur != s {
		k.mu.Unlock()
		return
	}
	k.cur = nil
	failed := k.s.Break(s.id)
	k.mu.Unlock()
	s.cancel()
	if !errors.Is(err, errPeerClosed) {
		k.m.counters.pushStreamErrs.Add(1)
		k.m.log.Debug("push stream broke", "peer", k.pc.id, "addr", k.pc.addr, "unanswered", len(failed), "err", err)
	}
	k.fail(failed, err)
}

func (k *pushLink) failQueued(err error) {
	k.mu.Lock()
	failed := k.s.FailQueued()
	k.mu.Unlock()
	k.fail(failed, err)
}

// fail completes items with err. The node files failed pushes by the order
// they were first issued, whatever order their failures come in.
func (k *pushLink) fail(items []pushstream.Item[outPush], err error) {
	if len(items) == 0 {
		return
	}
	evs := make([]state.Event, len(items))
	for i, it := range items {
		evs[i] = &state.PushCompleted{Call: it.Call, Err: err}
	}
	k.m.done(evs...)
}
