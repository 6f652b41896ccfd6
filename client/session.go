package client

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// A Session subscription's window: the live messages the daemon may send
// it before the client grants more. It opens at sessionWindow; the client
// grants credit each time the application has been handed half the
// window, so the daemon never waits on a reader that keeps up, and with
// each grant it resizes the window to hold about sessionWindowBytes of
// the messages handed since the last, within sessionWindow and
// sessionMaxWindow. Small messages at a high rate need the wider window
// (credit goes back through the client's session and the daemon's loop
// while the window drains: held at 1024, local-1to1-client-library ran
// at 1.70-1.88M msg/s against 2.79-2.99M, 3 alternating runs each);
// large ones keep the narrower, so what a reader that stops holds
// stays bounded.
const (
	sessionWindow      = 1024
	sessionMaxWindow   = 8192
	sessionWindowBytes = 2 << 20
)

// nextWindow is the window for messages of avg bytes each.
func nextWindow(avg int) int {
	return min(max(sessionWindowBytes/max(avg, 1), sessionWindow), sessionMaxWindow)
}

// A Client's subscriptions share one Session stream (an extension of this
// daemon): each is a virtual stream on it, a sessStream, which the
// subscription's run goroutine reads as it would its own gRPC stream.
// The session's one goroutine routes the daemon's events to them; a
// subscription whose application reads slowly holds up only itself,
// because the daemon sends it live messages only within its credit.
// When the session breaks, every subscription on it resumes as after its
// own stream broke, on the next session.

// sessions is a Client's Session streams: the one in use, opened lazily.
type sessions struct {
	mu  sync.Mutex
	cur *session
	// missing is the instance id of the daemon run ("" when it named
	// none) that answered Session with Unimplemented; see offered.
	missing atomic.Pointer[string]
	opened  atomic.Int64 // sessions opened, for tests
}

// useSession reports whether the next subscription stream should be a
// virtual one on the Session: packed frames are in use (Session sends
// live messages as packed frames), WithSession is on, and the daemon run
// has not said it lacks the call.
func (c *Client) useSession() bool {
	return c.o.session && c.usePacked() && c.offered(&c.sessions.missing)
}

// sessionUnimplemented remembers that the daemon run answering now lacks
// Session.
func (c *Client) sessionUnimplemented() {
	id := c.ServerID()
	if p := c.sessions.missing.Swap(&id); p == nil || *p != id {
		c.log.Info("nexusd: the daemon has no Session; one stream per subscription", "addr", c.addr)
	}
}

// session returns the Session in use, opening one when there is none or
// the last has ended. It waits until the stream is open, or ctx ends.
func (c *Client) session(ctx context.Context) (*session, error) {
	p := &c.sessions
	p.mu.Lock()
	se := p.cur
	if se == nil || se.failed() != nil {
		if !c.track() {
			p.mu.Unlock()
			return nil, closedError("subscribe")
		}
		se = &session{c: c, ready: make(chan struct{}), byRef: make(map[uint64]*sessStream), byID: make(map[string]*sessStream)}
		se.ctx, se.cancel = context.WithCancel(c.ctx)
		p.cur = se
		p.opened.Add(1)
		go se.run()
	}
	p.mu.Unlock()
	select {
	case <-se.ready:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return se, se.failed()
}

// session is one Session stream and the virtual streams on it.
type session struct {
	c        *Client
	ctx      context.Context
	cancel   context.CancelFunc
	ready    chan struct{} // closed once the stream is open, or failed to open
	stream   grpc.BidiStreamingClient[sidecarpb.SessionRequest, sidecarpb.SessionEvent]
	instance string // the daemon run that answered; set before ready closes
	hold     bool   // frames are decoded in place (holdFrames); set before ready closes

	sendMu sync.Mutex

	mu      sync.Mutex
	nextRef uint64
	byRef   map[uint64]*sessStream // opens not yet answered
	byID    map[string]*sessStream // open
	err     error                  // why the session ended; nil while it lives
}

// run opens the stream and routes its events until it ends.
func (se *session) run() {
	defer se.c.wg.Done()
	st, err := se.c.api.Session(se.ctx, grpc.WaitForReady(true))
	var hdr metadata.MD
	if err == nil {
		// Header says nothing of a call the daemon refused (a daemon without
		// Session): the first Recv does, and fails every open waiting.
		hdr, err = st.Header()
	}
	if err != nil {
		se.end(err)
		close(se.ready)
		return
	}
	se.stream, se.instance, se.hold = st, se.c.noteServer(hdr), se.c.holdFrames()
	close(se.ready)
	for {
		var ev *sidecarpb.SessionEvent
		var buf mem.Buffer
		if se.hold {
			h := heldSession{keep: sessionFrame}
			err = st.RecvMsg(&h)
			ev, buf = h.ev, h.buf
			if err != nil {
				se.c.heldFailed(err)
			}
		} else {
			ev, err = st.Recv()
		}
		if err != nil {
			se.end(err)
			return
		}
		se.route(ev, buf)
	}
}

func (se *session) failed() error {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.err
}

// end fails every virtual stream of the session with err.
func (se *session) end(err error) {
	if err == io.EOF {
		err = status.Error(codes.Unavailable, "the daemon ended the session")
	}
	se.mu.Lock()
	if se.err != nil {
		se.mu.Unlock()
		return
	}
	se.err = err
	var all []*sessStream
	for _, ss := range se.byRef {
		all = append(all, ss)
	}
	for _, ss := range se.byID {
		all = append(all, ss)
	}
	clear(se.byRef)
	clear(se.byID)
	se.mu.Unlock()
	se.cancel()
	for _, ss := range all {
		ss.fail(err)
	}
}

// route hands one event to its virtual stream. buf, when not nil, is the
// received buffer a frame of live messages is in: a borrowing stream's
// lease takes it, and any other stream gets the frame copied out.
func (se *session) route(ev *sidecarpb.SessionEvent, buf mem.Buffer) {
	id, ref, end := ev.GetSubscriptionId(), ev.GetRef(), ev.GetEnded()
	se.mu.Lock()
	var ss *sessStream
	switch {
	case ref != 0:
		ss = se.byRef[ref]
		delete(se.byRef, ref)
		if ss != nil && end == nil {
			se.byID[id] = ss
		}
	case end != nil && codes.Code(end.GetCode()) == codes.NotFound:
		// The answer to credit or an Unsubscribe for a subscription whose
		// own end came first: nothing to do.
	default:
		ss = se.byID[id]
		if ss != nil && end != nil {
			delete(se.byID, id)
		}
	}
	se.mu.Unlock()
	if buf != nil && (ss == nil || !ss.borrow) {
		ownFrame(ev.GetMessages(), buf)
		buf = nil
	}
	if ss != nil && !ss.push(ev, buf, id) && ref != 0 && end == nil {
		// Given up on before the daemon answered: end it now.
		se.send(unsubscribeOp(id, false))
	}
}

// send sends one request; a failure shows as the session's end, on Recv.
func (se *session) send(req *sidecarpb.SessionRequest) {
	se.sendMu.Lock()
	defer se.sendMu.Unlock()
	_ = se.stream.Send(req)
}

func unsubscribeOp(id string, pause bool) *sidecarpb.SessionRequest {
	return &sidecarpb.SessionRequest{Op: &sidecarpb.SessionRequest_Unsubscribe{Unsubscribe: &sidecarpb.UnsubscribeRequest{SubscriptionId: id, Pause: pause}}}
}

// sessionOpen is what a virtual stream opens: a subscription or a resume.
type sessionOpen struct {
	subscribe *sidecarpb.SubscribeRequest
	resume    *sidecarpb.ResumeSubscribeRequest
}

// open asks the daemon for a virtual stream. Its answer, the first event
// or a refusal, arrives on the stream. pause says what a cancel does
// once it is open: pause it for its resume window, as a broken stream
// would, or end it.
func (se *session) open(ctx context.Context, o sessionOpen, pause, borrow bool) *sessStream {
	ss := &sessStream{se: se, ctx: ctx, pause: pause, borrow: borrow, wake: make(chan struct{}, 1), window: sessionWindow}
	se.mu.Lock()
	if se.err != nil {
		ss.err = se.err
		se.mu.Unlock()
		return ss
	}
	se.nextRef++
	ref := se.nextRef
	se.byRef[ref] = ss
	se.mu.Unlock()
	req := &sidecarpb.SessionRequest{}
	if o.subscribe != nil {
		req.Op = &sidecarpb.SessionRequest_Subscribe{Subscribe: &sidecarpb.SessionSubscribe{Ref: ref, Request: o.subscribe, Window: sessionWindow}}
	} else {
		req.Op = &sidecarpb.SessionRequest_Resume{Resume: &sidecarpb.SessionResume{Ref: ref, Request: o.resume, Window: sessionWindow}}
	}
	se.send(req)
	return ss
}

// sessStream is one subscription's virtual stream on a session.
type sessStream struct {
	se     *session
	ctx    context.Context // the subscription's lifetime
	pause  bool
	borrow bool // its frames keep their received buffers (BorrowPayloads)
	wake   chan struct{}

	mu       sync.Mutex
	id       string   // the subscription's, from its first event
	queue    []routed // routed, not yet read
	err      error    // its end, read after the queue
	canceled bool

	// The reader's (the subscription's run goroutine).
	taken      []routed
	next       int
	given      int        // live messages handed to the application since the last grant
	givenBytes int        // and their bytes (their frames', for packed frames)
	window     int        // the credit the daemon holds and this has granted, all told: live messages in flight
	held       mem.Buffer // the buffer of the frame recv last returned, for stream.recv to take
}

// routed is an event routed to a virtual stream, with the received
// buffer its frame of live messages is in, if it kept one.
type routed struct {
	ev  *sidecarpb.SessionEvent
	buf mem.Buffer
}

// push queues an event, or ends the stream with a SessionEnded; it
// reports false when the stream was canceled (the event is dropped).
func (ss *sessStream) push(ev *sidecarpb.SessionEvent, buf mem.Buffer, id string) bool {
	ss.mu.Lock()
	if ss.canceled {
		ss.mu.Unlock()
		if buf != nil {
			buf.Free()
		}
		return false
	}
	if ss.id == "" {
		ss.id = id
	}
	if e := ev.GetEnded(); e != nil {
		ss.err = io.EOF // ended as asked, as a v1 stream the daemon ends
		if e.GetCode() != 0 {
			ss.err = status.Error(codes.Code(e.GetCode()), e.GetReason())
		}
	} else {
		ss.queue = append(ss.queue, routed{ev: ev, buf: buf})
		buf = nil
	}
	if buf != nil { // an end's: there is no frame in it
		buf.Free()
	}
	ss.mu.Unlock()
	ss.signal()
	return true
}

func (ss *sessStream) fail(err error) {
	ss.mu.Lock()
	if ss.err == nil {
		ss.err = err
	}
	ss.mu.Unlock()
	ss.signal()
}

func (ss *sessStream) signal() {
	select {
	case ss.wake <- struct{}{}:
	default:
	}
}

// wait returns once the stream holds an event or has ended (with why).
func (ss *sessStream) wait() error {
	for {
		ss.mu.Lock()
		n, err := len(ss.queue), ss.err
		ss.mu.Unlock()
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ss.wake:
		case <-ss.ctx.Done():
			return status.FromContextError(ss.ctx.Err()).Err()
		}
	}
}

// recv returns the next event as a stream's recv does.
func (ss *sessStream) recv() (*sidecarpb.MessageEvent, *sidecarpb.PackedFrame, error) {
	for {
		if ss.next == len(ss.taken) {
			if err := ss.wait(); err != nil {
				return nil, nil, err
			}
			clear(ss.taken)
			ss.mu.Lock()
			ss.taken, ss.queue = ss.queue, ss.taken[:0]
			ss.mu.Unlock()
			ss.next = 0
			continue
		}
		r := ss.taken[ss.next]
		ss.taken[ss.next] = routed{}
		ss.next++
		switch k := r.ev.GetKind().(type) {
		case *sidecarpb.SessionEvent_Event:
			return k.Event, nil, nil
		case *sidecarpb.SessionEvent_Messages:
			ss.held = r.buf
			if k.Messages == nil {
				return nil, &sidecarpb.PackedFrame{}, nil
			}
			return nil, k.Messages, nil
		}
		// A kind this client does not know: ignored, as v1 ignores unknown events.
	}
}

// handed counts live messages handed to the application, of size bytes
// in all, and grants credit for them half a window at a time, resizing
// the window (nextWindow): a grant of what was handed, plus what the
// window grows by or less what it shrinks by.
func (ss *sessStream) handed(n, size int) {
	ss.given += n
	ss.givenBytes += size
	if ss.given < ss.window/2 {
		return
	}
	next := nextWindow(ss.givenBytes / ss.given)
	grant := ss.given + next - ss.window
	if grant <= 0 {
		return // shrinking: the daemon's credit runs down to the new window first
	}
	ss.mu.Lock()
	id, over := ss.id, ss.err != nil || ss.canceled
	ss.mu.Unlock()
	if !over {
		ss.se.send(&sidecarpb.SessionRequest{Op: &sidecarpb.SessionRequest_Credit{Credit: &sidecarpb.SessionCredit{SubscriptionId: id, Messages: uint32(grant)}}})
	}
	ss.given, ss.givenBytes, ss.window = 0, 0, next
}

// cancel ends the virtual stream as a cancel ends a gRPC stream: the
// daemon pauses the subscription for its resume window (pause), or ends
// it. One given up on before it opened is ended when its answer comes.
func (ss *sessStream) cancel() {
	ss.mu.Lock()
	if ss.canceled {
		ss.mu.Unlock()
		return
	}
	ss.canceled = true
	id, over := ss.id, ss.err != nil
	ss.queue = nil
	ss.mu.Unlock()
	if !over && id != "" {
		ss.se.send(unsubscribeOp(id, ss.pause))
	}
}

// openOnSession opens the subscription's stream on the client's Session.
// It waits for the daemon's first answer, to learn whether the daemon
// has Session at all (Unimplemented, for the caller to fall back).
//
// A session that decoded in place and found the codec in use cannot (a
// codec forced on the client's calls: heldFailed) ends with the first
// event; the open is then made again, once, on a new session that
// decodes as any gRPC client does.
func (s *Subscription) openOnSession(o sessionOpen) (*stream, string, error) {
	for again := true; ; again = false {
		se, err := s.c.session(s.ctx)
		if err != nil {
			return nil, "", err
		}
		ss := se.open(s.ctx, o, s.o.resumeWindow > 0, s.o.borrow)
		err = ss.wait()
		if status.Code(err) == codes.Unimplemented {
			return nil, "", err
		}
		if err != nil && again && se.hold && !s.c.holdFrames() {
			ss.cancel()
			continue
		}
		return &stream{sv: ss, cancel: ss.cancel}, se.instance, nil
	}
}
