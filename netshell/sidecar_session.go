package netshell

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/vtcodec"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// A Session subscription's window: the live messages it may be sent
// before its client grants more.
const (
	sessionDefaultWindow = 1024
	sessionMaxWindow     = 1 << 16
)

// sessionReportSent is the most events a subscription's sender sends
// before it reports them sent to the node, which then uses their
// messages' memory again; a stream of its own reports every quarter of
// its credit of 2048 (serveStream).
const sessionReportSent = 512

// Session carries many subscriptions on one stream (docs/protocol.md
// §13.11). Each is a node subscription with a subStream of its own, but
// its mailbox wakes no goroutine: it puts the subscription on the
// session's ready list, and one sender serves them all, while a receiver
// takes the client's requests. A subscription costs its node state and a
// few hundred bytes here, not a stream.
//
// Credit. The node may hand a subscription as many events as its window
// allows. Credit for what is not a live message, and every event's bytes,
// goes back to the node as it is sent, as on Subscribe; a live message's
// count goes back only when the client grants it (SessionCredit). So the
// node never hands out more live messages than the client has room for,
// and a subscription whose client stops granting has its messages queued,
// dropped or blocked by its own policy in the node while the stream goes
// on for the others.
func (s *sidecarServer) Session(stream grpc.BidiStreamingServer[sidecarpb.SessionRequest, sidecarpb.SessionEvent]) error {
	se := &session{
		s:       s,
		stream:  stream,
		ctx:     stream.Context(),
		limit:   max(int(s.o.AppMaxStreams), 1),
		wake:    make(chan struct{}, 1),
		byID:    make(map[string]*sessionSub),
		opening: make(map[*sessionSub]struct{}),
	}
	se.frames = frameSender{maxFrame: min(packedFrameBytes, sidecarMaxRecv(s.o)), counts: &s.metrics.shell, sendFrame: se.frame, sendEvent: se.event}
	received := make(chan error, 1)
	go func() { received <- se.receive() }()
	err := se.send(received)
	if !errors.Is(err, errStopped) {
		se.close()
	}
	return rpcError(err)
}

// session is one Session stream.
type session struct {
	s      *sidecarServer
	stream grpc.BidiStreamingServer[sidecarpb.SessionRequest, sidecarpb.SessionEvent]
	ctx    context.Context
	limit  int           // subscriptions open at once
	wake   chan struct{} // has a value while ready or notes may hold something

	mu      sync.Mutex
	ready   []*sessionSub             // subscriptions whose mailbox filled, in the order they did
	notes   []*sidecarpb.SessionEvent // answers the receiver made, for the sender to send
	byID    map[string]*sessionSub    // open: their first event has gone out
	opening map[*sessionSub]struct{}  // posted to the loop, their first event not yet out

	postMu sync.Mutex // held across posting an open, and by close: no open follows the close
	closed bool       // guarded by postMu

	// The sender's: what it sends events with, the subscription they
	// belong to, and the ref the next one carries.
	frames    frameSender
	cur       *sessionSub
	ref       uint64
	out       sidecarpb.SessionEvent
	wrapped   sidecarpb.SessionEvent_Event
	head      []byte // a frame's SessionEvent fields before the frame, encoded
	info      sidecarpb.SubscriptionInfo
	infoKind  sidecarpb.MessageEvent_SubscriptionInfo
	infoEvent sidecarpb.MessageEvent
}

// sessionSub is one subscription of a Session.
type sessionSub struct {
	subStream
	mbox  mailbox[streamItem] // subStream.box; no wake of its own
	sess  *session
	ref   uint64 // the request's, echoed on the first event or the refusal
	named string // the id a resume named, echoed on its refusal

	// The sender's.
	id        string // from the first event, subscription_info
	owed      int    // credit of events sent that is not yet back with the node
	owedBytes int
	sent      int // events sent, live messages included, not yet reported to the node

	pauseTTL atomic.Int64 // ms; set on the loop by a pause this session asked for, before the end
}

// arrived is the loop handing the subscription events (subStream.putMany).
func (ss *sessionSub) arrived(items []streamItem) {
	if ss.mbox.add(items) {
		se := ss.sess
		se.mu.Lock()
		se.ready = append(se.ready, ss)
		se.mu.Unlock()
		se.signal()
	}
}

func (se *session) signal() {
	select {
	case se.wake <- struct{}{}:
	default:
	}
}

// note queues an answer of the receiver for the sender.
func (se *session) note(ev *sidecarpb.SessionEvent) {
	se.mu.Lock()
	se.notes = append(se.notes, ev)
	se.mu.Unlock()
	se.signal()
}

// send is the sender: it sends what the subscriptions' mailboxes and the
// receiver hold until the client goes, the receiver ends, or the daemon
// stops. Ready subscriptions are served in the order their mailboxes
// filled, so events the loop put in order leave in that order.
func (se *session) send(received <-chan error) error {
	var (
		ready []*sessionSub
		notes []*sidecarpb.SessionEvent
	)
	for {
		select {
		case <-se.wake:
		case err := <-received:
			return err
		case <-se.ctx.Done():
			return se.ctx.Err()
		case <-se.s.loop.stopping:
			return errStopped
		case <-se.s.loop.done:
			return errStopped
		}
		se.mu.Lock()
		ready, se.ready = se.ready, ready[:0]
		notes, se.notes = se.notes, notes[:0]
		se.mu.Unlock()
		for _, ev := range notes {
			if err := se.stream.Send(ev); err != nil {
				return err
			}
		}
		clear(notes)
		nowMs := se.s.loop.clk.Now().UnixMilli()
		for _, ss := range ready {
			if err := se.flush(ss, nowMs); err != nil {
				return err
			}
		}
		clear(ready)
	}
}

// flush sends what waits in one subscription's mailbox. It takes the
// mailbox's slice and leaves it none, so an idle subscription holds no
// buffer.
func (se *session) flush(ss *sessionSub, nowMs int64) error {
	items := ss.mbox.take(nil)
	se.cur = ss
	for i := 0; i < len(items); {
		if items[i].ended() {
			return se.ended(ss, items[i].endErr())
		}
		if ss.id == "" && items[i].kind() == state.OutInfo {
			ss.id = items[i].out().Info.SubID
			se.ref = ss.ref
			se.mu.Lock()
			delete(se.opening, ss)
			se.byID[ss.id] = ss
			se.mu.Unlock()
		}
		var n int
		var part state.Run
		var err error
		if items[i].kind() == state.OutInfo {
			// Every subscription sends one: in memory the session reuses.
			fillInfo(&se.info, items[i].out().Info)
			se.infoKind.SubscriptionInfo = &se.info
			se.infoEvent.Event = &se.infoKind
			n, err = 1, se.event(&se.infoEvent)
		} else {
			n, part, err = sendHead(items[i:], 0, se.event, &se.frames, nil)
		}
		if err != nil {
			return err
		}
		events, bytes := se.s.settle(items[i:i+n], part, nowMs)
		if n == 1 && !items[i].live() {
			ss.owed++ // a live message's count comes back with the client's grant
		}
		ss.owedBytes += bytes
		ss.sent += events
		i += n
		// Sent lets the node use the sent messages' memory again (the
		// subscription was opened with ReportsSent): nothing here reads
		// them once they are encoded and settled.
		if ss.owed >= ss.grantEvery() || ss.sent >= min(ss.grantEvery(), sessionReportSent) || ss.owedBytes >= max(ss.windowBytes/4, 1) {
			if err := se.s.loop.postControl(se.ctx, &state.CreditGranted{Stream: ss.handle, N: ss.owed, Bytes: ss.owedBytes, Sent: ss.sent}); err != nil {
				return err
			}
			ss.owed, ss.owedBytes, ss.sent = 0, 0, 0
		}
	}
	return nil
}

// ended sends the end of a subscription: as asked (unsubscribed, paused,
// taken over by a resume elsewhere), or the node's refusal of its open.
func (se *session) ended(ss *sessionSub, err error) error {
	ev := endedEvent(ss.id, 0, err)
	if err == nil {
		ev.GetEnded().PauseTtlMs = ss.pauseTTL.Load()
	}
	if ss.id == "" {
		ev.SubscriptionId, ev.Ref = ss.named, ss.ref
	}
	se.mu.Lock()
	delete(se.opening, ss)
	if ss.id != "" && se.byID[ss.id] == ss {
		delete(se.byID, ss.id)
	}
	se.mu.Unlock()
	return se.stream.Send(ev)
}

// endedEvent is a SessionEnded for subscription id; err, a gRPC status
// or the node's refusal, says why, and nil means ended as asked.
func endedEvent(id string, ref uint64, err error) *sidecarpb.SessionEvent {
	end := &sidecarpb.SessionEnded{}
	if err != nil {
		st, ok := status.FromError(err)
		if !ok {
			st = status.Convert(statusOf(err))
		}
		end.Code, end.Reason = uint32(st.Code()), st.Message()
	}
	return &sidecarpb.SessionEvent{SubscriptionId: id, Ref: ref, Kind: &sidecarpb.SessionEvent_Ended{Ended: end}}
}

// event and frame send one event of the subscription being flushed.
func (se *session) event(e *sidecarpb.MessageEvent) error {
	se.wrapped.Event = e
	se.out.Kind = &se.wrapped
	return se.sendOut()
}

// frame sends the encoder's frame as a SessionEvent encoded straight into
// a buffer gRPC writes out and frees: its subscription and ref first, then
// the frame (messages, its field 1), whose records are recs, sent as they
// are (vtcodec.EncodeNestedTail).
func (se *session) frame(enc *packed.Encoder, recs *[]byte) error {
	h := se.head[:0]
	if se.cur.id != "" {
		h = protowire.AppendString(protowire.AppendTag(h, 1, protowire.BytesType), se.cur.id) // subscription_id
	}
	if se.ref != 0 {
		h = protowire.AppendVarint(protowire.AppendTag(h, 2, protowire.VarintType), se.ref) // ref
	}
	se.head, se.ref = h, 0
	ev, err := vtcodec.EncodeNestedTail(h, enc.Size(), enc.AppendHeader, recs, 4, 1)
	if err != nil {
		return err
	}
	return se.stream.SendMsg(ev)
}

func (se *session) sendOut() error {
	se.out.SubscriptionId, se.out.Ref = se.cur.id, se.ref
	se.ref = 0
	return se.stream.Send(&se.out)
}

// receive is the receiver: it carries out the client's requests until the
// client closes its side (nil) or the stream breaks.
func (se *session) receive() error {
	for {
		req, err := se.stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch op := req.GetOp().(type) {
		case *sidecarpb.SessionRequest_Subscribe:
			err = se.subscribe(op.Subscribe)
		case *sidecarpb.SessionRequest_Resume:
			err = se.resume(op.Resume)
		case *sidecarpb.SessionRequest_Unsubscribe:
			err = se.unsubscribe(op.Unsubscribe)
		case *sidecarpb.SessionRequest_Credit:
			err = se.credit(op.Credit)
		default:
			se.note(endedEvent("", 0, status.Error(codes.InvalidArgument, "SessionRequest sets no op: set subscribe, resume, unsubscribe or credit")))
		}
		if err != nil {
			return err
		}
	}
}

func (se *session) subscribe(o *sidecarpb.SessionSubscribe) error {
	ss, err := se.newSub(o.GetRef(), "", o.GetWindow())
	if err == nil {
		var ev *state.Subscribed
		if ev, err = subscribeFromProto(ss.handle, ss.window, o.GetRequest()); err == nil {
			ev.CreditBytes, ev.ByNumber, ev.ReportsSent = ss.windowBytes, true, true
			return se.post(ss, ev)
		}
	}
	se.note(endedEvent("", o.GetRef(), err))
	return nil
}

func (se *session) resume(o *sidecarpb.SessionResume) error {
	named := o.GetRequest().GetSubscriptionId()
	ss, err := se.newSub(o.GetRef(), named, o.GetWindow())
	if err == nil {
		var ev *state.Resumed
		if ev, err = resumeFromProto(ss.handle, ss.window, o.GetRequest()); err == nil {
			ev.CreditBytes, ev.ByNumber, ev.ReportsSent = ss.windowBytes, true, true
			return se.post(ss, ev)
		}
	}
	se.note(endedEvent(named, o.GetRef(), err))
	return nil
}

// newSub makes a subscription of the session, not yet opened; the error
// is already a gRPC status.
func (se *session) newSub(ref uint64, named string, window uint32) (*sessionSub, error) {
	w := int(window)
	switch {
	case w == 0:
		w = sessionDefaultWindow
	case w > sessionMaxWindow:
		return nil, status.Errorf(codes.InvalidArgument, "window %d is above %d: grant credit as messages are consumed instead", w, sessionMaxWindow)
	}
	ss := &sessionSub{sess: se, ref: ref, named: named}
	ss.subStream = subStream{handle: se.s.loop.newID(), window: w, windowBytes: se.s.o.StreamWindowBytes,
		maxBatch: packedFrameRecords, runs: true, box: &ss.mbox, owner: ss}
	return ss, nil
}

// post opens ss on the loop with ev, within the session's cap.
func (se *session) post(ss *sessionSub, ev state.Event) error {
	se.mu.Lock()
	if n := len(se.byID) + len(se.opening); n >= se.limit {
		se.mu.Unlock()
		se.note(endedEvent(ss.named, ss.ref, status.Errorf(codes.ResourceExhausted,
			"this session holds %d subscriptions, the most one session may: end some, or open more on another connection", n)))
		return nil
	}
	se.opening[ss] = struct{}{}
	se.mu.Unlock()
	se.postMu.Lock()
	defer se.postMu.Unlock()
	var err error
	if se.closed {
		err = context.Canceled
	} else {
		err = se.s.loop.post(se.ctx, input{ev: ev, stream: &ss.subStream})
	}
	if err != nil {
		se.mu.Lock()
		delete(se.opening, ss)
		se.mu.Unlock()
	}
	return err
}

// lookup finds an open subscription of the session by id.
func (se *session) lookup(id string) *sessionSub {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.byID[id]
}

func (se *session) unsubscribe(u *sidecarpb.UnsubscribeRequest) error {
	ev, err := unsubscribeFromProto(se.s.loop.newID(), u)
	if err != nil {
		se.note(endedEvent("", 0, err))
		return nil
	}
	ss := se.lookup(ev.SubID)
	if ss == nil {
		se.note(notInSession(ev.SubID))
		return nil
	}
	// The answer needs no event of its own: the end the node gives the
	// subscription's stream says it (and when the node did not know the
	// subscription, its stream has ended, or is ending, anyway).
	return se.s.loop.post(se.ctx, input{ev: ev, reply: sessionUnsub{ss}})
}

func (se *session) credit(c *sidecarpb.SessionCredit) error {
	id := c.GetSubscriptionId()
	if id == "" {
		se.note(endedEvent("", 0, status.Error(codes.InvalidArgument, "subscription_id is empty: give the id from the subscription's subscription_info")))
		return nil
	}
	ss := se.lookup(id)
	if ss == nil {
		se.note(notInSession(id))
		return nil
	}
	if c.GetMessages() == 0 {
		return nil
	}
	return se.s.loop.postControl(se.ctx, &state.CreditGranted{Stream: ss.handle, N: int(c.GetMessages())})
}

func notInSession(id string) *sidecarpb.SessionEvent {
	return endedEvent(id, 0, status.Errorf(codes.NotFound, "subscription %q is not open on this session", id))
}

// sessionUnsub takes the answer to a session's Unsubscribe on the loop,
// before the loop ends the subscription's stream, so the end carries the
// pause's time.
type sessionUnsub struct{ ss *sessionSub }

func (u sessionUnsub) answer(e state.Effect) {
	if c, ok := e.(*state.CompleteUnsubscribe); ok && c.Err == nil {
		u.ss.pauseTTL.Store(c.PauseTTL.Milliseconds())
	}
}

// close ends every subscription of the session as the end of its own
// stream would: each is removed, or paused for its resume window.
func (se *session) close() {
	se.postMu.Lock()
	se.closed = true
	se.postMu.Unlock()
	se.mu.Lock()
	evs := make([]state.Event, 0, len(se.byID)+len(se.opening))
	for _, ss := range se.byID {
		evs = append(evs, &state.StreamClosed{Stream: ss.handle})
	}
	for ss := range se.opening {
		evs = append(evs, &state.StreamClosed{Stream: ss.handle})
	}
	se.mu.Unlock()
	if len(evs) > 0 {
		// Not postControl: a close must not overtake the opens.
		_ = se.s.loop.post(context.Background(), input{evs: evs})
	}
}
