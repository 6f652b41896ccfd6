package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// ErrSubscriptionEnded is what Next returns once a subscription has ended
// by Unsubscribe.
var ErrSubscriptionEnded = errors.New("subscription ended")

// Policy is what the daemon does when a subscription's queue is full.
type Policy string

const (
	// DropOldest drops the oldest queued message (the daemon's default).
	DropOldest Policy = "drop-oldest"
	// DropNewest drops the message that does not fit.
	DropNewest Policy = "drop-newest"
	// Block makes publishers wait (up to the daemon's --block-timeout,
	// then drop-oldest).
	Block Policy = "block"
)

type subscribeOptions struct {
	resumeWindow time.Duration
	retained     bool
	policy       Policy
	queueLimit   int
	maxBatch     int
	buffer       int
	onGap        func(Gap)
	backpressure func(BackpressureWarning)
	queueGroup   string
	borrow       bool // lend live messages of packed frames (BorrowPayloads)
}

// SubscribeOption configures one subscription.
type SubscribeOption func(*subscribeOptions) error

// ReceiveRetained delivers each matching topic's retained value first
// (Message.Kind Retained).
func ReceiveRetained() SubscribeOption {
	return func(o *subscribeOptions) error { o.retained = true; return nil }
}

// BackpressurePolicy chooses what the daemon does when this
// subscription's queue is full (default: the daemon's --backpressure-policy).
func BackpressurePolicy(p Policy) SubscribeOption {
	return func(o *subscribeOptions) error {
		if _, err := state.ParsePolicy(string(p)); err != nil {
			return err
		}
		o.policy = p
		return nil
	}
}

// QueueLimit lowers the daemon's queue for this subscription to n
// messages (default and maximum: the daemon's --subscriber-queue-limit).
func QueueLimit(n int) SubscribeOption {
	return func(o *subscribeOptions) error {
		if n < 1 {
			return fmt.Errorf("queue limit %d: want a positive number of messages", n)
		}
		o.queueLimit = n
		return nil
	}
}

// MaxBatch lets the daemon pack up to n live messages into one event (an
// extension of this daemon); it saves work at high rates. Messages still
// reach the application one by one, in order.
func MaxBatch(n int) SubscribeOption {
	return func(o *subscribeOptions) error {
		if n < 1 {
			return fmt.Errorf("max batch %d: want 1 or more", n)
		}
		o.maxBatch = n
		return nil
	}
}

// BufferSize sets how many messages the client holds for the application
// before it stops reading the stream (default 256). Past it the daemon
// queues, and applies the backpressure policy.
func BufferSize(n int) SubscribeOption {
	return func(o *subscribeOptions) error {
		if n < 0 {
			return fmt.Errorf("buffer size %d: want 0 or more", n)
		}
		o.buffer = n
		return nil
	}
}

// DefaultResumeWindow is how long the daemon keeps a subscription whose
// stream broke, for the client to resume it: longer than the client takes
// to notice a dead connection (keepalive, 15 s) and to reconnect.
const DefaultResumeWindow = time.Minute

// ResumeWindow sets how long the daemon keeps this subscription, paused,
// when its stream breaks without an Unsubscribe (an extension of this
// daemon; default DefaultResumeWindow, at most the daemon's
// --paused-subscription-ttl): messages go on into the daemon's replay
// buffer, and the client resumes by id and misses nothing the buffer still
// holds. 0 ends the subscription on the daemon with its stream, as v1
// daemons do; the client then resumes by topics, and what the daemon
// passed over while no subscription wanted it is not reported.
func ResumeWindow(d time.Duration) SubscribeOption {
	return func(o *subscribeOptions) error {
		if d < 0 {
			return fmt.Errorf("resume window %s: want 0 or more", d)
		}
		o.resumeWindow = d
		return nil
	}
}

// QueueGroup makes this subscription a member of the named queue group (an
// extension of this daemon): among all live members of the group across the
// mesh whose patterns match a message, exactly one receives it. A member's
// sequence numbers count only the messages it receives, so they run
// without false gaps. A paused member is no candidate: what is published
// while it is paused goes to other members and is not replayed to it.
func QueueGroup(name string) SubscribeOption {
	return func(o *subscribeOptions) error {
		if err := state.ValidateGroup(name); err != nil {
			return err
		}
		o.queueGroup = name
		return nil
	}
}

// OnGap calls f for every gap on this subscription (instead of the
// client's WithGapHandler).
func OnGap(f func(Gap)) SubscribeOption {
	return func(o *subscribeOptions) error { o.onGap = f; return nil }
}

// OnBackpressure calls f for every backpressure warning on this
// subscription (instead of the client's WithBackpressureHandler).
func OnBackpressure(f func(BackpressureWarning)) SubscribeOption {
	return func(o *subscribeOptions) error { o.backpressure = f; return nil }
}

// phase is where a subscription is in its life.
type phase int

const (
	active   phase = iota // streaming, or reconnecting to stream again
	pausing               // Pause asked the daemon; its stream is ending
	paused                // paused on the daemon; waiting for Resume
	resuming              // Resume asked the run loop to resume
	ending                // Unsubscribe was called
)

// Subscription is a subscription that lives until Unsubscribe, the end of
// the context it was opened with, or the client's Close; reconnection and
// resume happen inside it. Its messages arrive on C (or Messages, or
// Next), in order per topic.
type Subscription struct {
	c        *Client
	patterns []string
	o        subscribeOptions
	ch       chan *Message
	ctx      context.Context // its lifetime
	cancel   context.CancelCauseFunc
	release  func()
	done     chan struct{}

	mu        sync.Mutex
	id        string // the daemon's id of the subscription now
	phase     phase
	streaming bool          // a stream is open
	left      bool          // the daemon was told it is over (leave)
	changed   chan struct{} // closed and replaced when phase changes
	resumed   chan error    // Resume's answer, while resuming
	err       error         // why it ended, once done is closed
	seq       *tracker      // last sequence per topic; guarded by mu

	instance string   // daemon run that numbered the sequences held; the run goroutine's
	warned   warnings // running totals of the last warning; guarded by mu
	// resumeOwed is how many of the messages a resume reported missed are
	// not yet reported topic by topic; guarded by mu (see consume.go).
	resumeOwed int64

	frames frameReader // the run goroutine's, for packed frames
	leases *leases     // a borrowing subscription's (BorrowPayloads); nil otherwise
}

// Subscribe opens a subscription to the topic patterns (MQTT wildcards)
// and returns once the daemon has accepted it (while the client is
// reconnecting, it waits for the connection). ctx is the subscription's
// lifetime, not just the call's: the subscription lives until ctx ends,
// Unsubscribe or Close, and survives reconnections meanwhile, resuming
// where it left off. Messages arrive on C.
func (c *Client) Subscribe(ctx context.Context, patterns []string, opts ...SubscribeOption) (*Subscription, error) {
	const op = "subscribe"
	if err := c.done(op); err != nil {
		return nil, err
	}
	o := subscribeOptions{buffer: 256, resumeWindow: DefaultResumeWindow}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, argError(op, "%v", err)
		}
	}
	if len(patterns) == 0 {
		return nil, topicError(op, errors.New("no topics given: subscribe to at least one topic or pattern"))
	}
	for _, p := range patterns {
		if err := state.ValidatePattern(p, maxTopicBytes, maxTopicLevels); err != nil {
			return nil, topicError(op, err)
		}
	}
	s := &Subscription{c: c, patterns: slices.Clone(patterns), o: o, ch: make(chan *Message, o.buffer),
		done: make(chan struct{}), changed: make(chan struct{}), seq: newTracker(maxTrackedTopics)}
	s.ctx, s.cancel, s.release = c.lifetime(ctx)
	if o.borrow {
		s.leases = newLeases()
	}
	req := &sidecarpb.SubscribeRequest{
		Topics:             s.patterns,
		ClientId:           c.o.clientID,
		ReceiveRetained:    o.retained,
		MaxBufferSize:      int32(o.queueLimit),
		MaxBatch:           int32(o.maxBatch),
		BackpressurePolicy: string(o.policy),
		ResumeWindowMs:     o.resumeWindow.Milliseconds(),
		QueueGroup:         o.queueGroup,
	}
	st, inst, err := s.openStream(func(ctx context.Context) (eventStream, error) {
		return c.api.Subscribe(ctx, req, grpc.WaitForReady(true))
	}, func(ctx context.Context) (packedStream, error) {
		return c.api.SubscribePacked(ctx, &sidecarpb.SubscribePackedRequest{
			Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: req}}, grpc.WaitForReady(true))
	}, sessionOpen{subscribe: req})
	var info *sidecarpb.SubscriptionInfo
	if err == nil {
		if info, err = st.info(); err != nil {
			st.cancel()
		}
	}
	if err != nil {
		err = c.finish(op, err)
		if s.ctx.Err() != nil && c.ctx.Err() == nil {
			err = wrapErr(op, context.Cause(s.ctx))
		}
		s.release()
		return nil, err
	}
	if !c.track() {
		st.cancel()
		s.release()
		return nil, closedError(op)
	}
	c.mu.Lock()
	if c.subs == nil {
		c.subs = make(map[*Subscription]struct{})
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	s.opened(info, inst)
	go s.run(st)
	return s, nil
}

// C is the channel messages arrive on. It is closed when the
// subscription ends; Err then says why.
func (s *Subscription) C() <-chan *Message { return s.ch }

// Messages iterates over the subscription's messages until it ends or
// ctx ends; Err then says why it ended.
func (s *Subscription) Messages(ctx context.Context) iter.Seq[*Message] {
	return func(yield func(*Message) bool) {
		for {
			select {
			case m, ok := <-s.ch:
				if !ok || !yield(m) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}
}

// Next waits for the next message. Once the subscription has ended it
// returns why (ErrSubscriptionEnded after Unsubscribe), and ctx's error
// when ctx ends first.
func (s *Subscription) Next(ctx context.Context) (*Message, error) {
	select {
	case m, ok := <-s.ch:
		if ok {
			return m, nil
		}
		if err := s.Err(); err != nil {
			return nil, err
		}
		return nil, ErrSubscriptionEnded
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ID is the daemon's id of the subscription. It changes when the daemon
// had forgotten the subscription and the client opened it anew (its
// stream ended and the daemon noticed first, its pause ran out, or the
// daemon restarted).
func (s *Subscription) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Topics are the patterns the subscription was opened with.
func (s *Subscription) Topics() []string { return slices.Clone(s.patterns) }

// LastSequences is the last sequence number received per topic: where a
// resume continues from.
func (s *Subscription) LastSequences() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq.snapshot()
}

// Done is closed when the subscription has ended.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the subscription ended: nil after Unsubscribe, the
// context's error when its context ended, ErrClosed after Close, or the
// error that stopped it (a refused resume, reconnection that gave up). It
// is nil while the subscription lives.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
	default:
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Pause asks the daemon to keep the subscription without a stream: it
// goes on collecting the subscription's messages in its ring for the
// returned time (its --paused-subscription-ttl), and Resume replays them.
// Messages already received stay readable.
func (s *Subscription) Pause(ctx context.Context) (time.Duration, error) {
	const op = "pause"
	s.mu.Lock()
	switch {
	case s.phase == ending || s.isDone():
		s.mu.Unlock()
		return 0, &Error{Op: op, Kind: ErrNotFound, Status: status.New(codes.NotFound, "the subscription has ended")}
	case s.phase == pausing || s.phase == paused:
		s.mu.Unlock()
		return 0, argError(op, "the subscription is already paused")
	case s.phase == resuming || !s.streaming:
		s.mu.Unlock()
		return 0, &Error{Op: op, Kind: ErrUnavailable, Status: statusUnavailable("the subscription is reconnecting; pause it once it is back")}
	}
	id := s.id
	s.setPhase(pausing)
	s.mu.Unlock()
	resp, err := s.c.api.Unsubscribe(ctx, &sidecarpb.UnsubscribeRequest{SubscriptionId: id, Pause: true})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase != pausing {
		return 0, &Error{Op: op, Kind: ErrNotFound, Status: status.New(codes.NotFound, "the subscription has ended")}
	}
	if err != nil {
		s.setPhase(active) // the run loop takes a stream that ended meanwhile as broken
		return 0, s.c.finish(op, err)
	}
	s.setPhase(paused)
	return time.Duration(resp.GetPauseTtlMs()) * time.Millisecond, nil
}

// Resume reattaches a paused subscription: the daemon replays what
// arrived while it was paused, then live messages follow, with no gap and
// no duplicate. If the pause had run out, the subscription is opened again
// by its topics and replays what the daemon's ring still holds, reporting
// the rest as a gap. Resume returns once the stream is back, or when ctx
// ends (the subscription then goes on resuming in the background).
func (s *Subscription) Resume(ctx context.Context) error {
	const op = "resume"
	s.mu.Lock()
	if s.phase != paused {
		ended := s.phase == ending || s.isDone()
		s.mu.Unlock()
		if ended {
			return &Error{Op: op, Kind: ErrNotFound, Status: status.New(codes.NotFound, "the subscription has ended")}
		}
		return argError(op, "the subscription is not paused")
	}
	answer := make(chan error, 1)
	s.resumed = answer
	s.setPhase(resuming)
	s.mu.Unlock()
	select {
	case err := <-answer:
		return err
	case <-ctx.Done():
		return wrapErr(op, ctx.Err())
	}
}

// Unsubscribe ends the subscription on the daemon and in the client; C is
// closed once the messages already received have been read (the channel
// keeps them). It returns the daemon's refusal, if any; ending locally
// always happens.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	s.mu.Lock()
	if s.phase == ending || s.isDone() {
		s.mu.Unlock()
		return nil
	}
	id := s.id
	s.setPhase(ending)
	s.mu.Unlock()
	var err error
	if s.c.ctx.Err() == nil {
		_, err = s.c.api.Unsubscribe(ctx, &sidecarpb.UnsubscribeRequest{SubscriptionId: id})
		switch status.Code(err) {
		case codes.NotFound, codes.Unavailable, codes.Canceled:
			err = nil // gone already, or its stream's end removes it
		}
	}
	s.cancel(nil)
	select {
	case <-s.done:
	case <-ctx.Done():
	}
	return wrapErr("unsubscribe", err)
}

// isDone reports whether the run loop has finished; mu held.
func (s *Subscription) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// setPhase changes the phase and wakes whoever waits on it; mu held.
func (s *Subscription) setPhase(p phase) {
	s.phase = p
	close(s.changed)
	s.changed = make(chan struct{})
}

// eventStream is a v1 subscription stream (Subscribe, ResumeSubscribe);
// packedStream is SubscribePacked's.
type (
	eventStream  = grpc.ServerStreamingClient[sidecarpb.MessageEvent]
	packedStream = grpc.ServerStreamingClient[sidecarpb.PackedEvent]
)

// stream is one open subscription stream, v1, packed or virtual on the
// client's Session (session.go), and what ends it.
type stream struct {
	v1     eventStream
	pk     packedStream // nil on a v1 stream
	sv     *sessStream  // set on a Session's virtual stream (v1 and pk nil)
	cancel context.CancelFunc

	// A packed stream's first event, read by openStream to learn whether
	// the daemon has SubscribePacked; recv returns it first.
	first    *sidecarpb.PackedEvent
	firstErr error
	primed   bool

	// A borrowing subscription's stream (BorrowPayloads) decodes its frames
	// in place: held is the buffer the frame recv last returned is in,
	// for the caller to take (nil when the frame is the GC's).
	lend    bool
	held    mem.Buffer
	heldErr error // how a decode in place failed, for the client to judge (heldFailed)
}

// recv returns the stream's next event: a MessageEvent, or (packed
// streams only) a frame of live messages.
func (st *stream) recv() (*sidecarpb.MessageEvent, *sidecarpb.PackedFrame, error) {
	st.held = nil
	if st.sv != nil {
		ev, f, err := st.sv.recv()
		st.held, st.sv.held = st.sv.held, nil
		return ev, f, err
	}
	if st.pk == nil {
		ev, err := st.v1.Recv()
		return ev, nil, err
	}
	var pe *sidecarpb.PackedEvent
	var err error
	switch {
	case st.primed:
		pe, err = st.first, st.firstErr
		st.first, st.firstErr, st.primed = nil, nil, false
	case st.lend:
		h := heldPacked{keep: packedFrame}
		err = st.pk.RecvMsg(&h)
		pe, st.held = h.ev, h.buf
		if err != nil {
			st.heldErr = err
		}
	default:
		pe, err = st.pk.Recv()
	}
	if err != nil {
		return nil, nil, err
	}
	switch k := pe.GetKind().(type) {
	case *sidecarpb.PackedEvent_Event:
		return k.Event, nil, nil
	case *sidecarpb.PackedEvent_Messages:
		if k.Messages == nil {
			return nil, &sidecarpb.PackedFrame{}, nil
		}
		return nil, k.Messages, nil
	}
	return nil, nil, nil // a kind this client does not know: ignored, as v1 ignores unknown events
}

// info reads the first event, which must be subscription_info.
func (st *stream) info() (*sidecarpb.SubscriptionInfo, error) {
	ev, frame, err := st.recv()
	if err == io.EOF {
		return nil, status.Error(codes.Unavailable, "the daemon ended the stream before it began")
	}
	if err != nil {
		return nil, err
	}
	if i := ev.GetSubscriptionInfo(); i != nil {
		return i, nil
	}
	if frame != nil {
		return nil, status.Error(codes.Internal, "the daemon's stream began with messages, not subscription_info")
	}
	return nil, status.Errorf(codes.Internal, "the daemon's stream began with %T, not subscription_info", ev.GetEvent())
}

// handed tells a Session's virtual stream that n live messages, of size
// bytes in all, reached the application, so it can grant credit for more.
func (st *stream) handed(n, size int) {
	if st.sv != nil && n > 0 {
		st.sv.handed(n, size)
	}
}

// openStream opens a stream within the subscription's lifetime and
// returns it with the instance id of the daemon that answered ("" if its
// header named none). Given what to open on a Session (open), it opens a
// virtual stream on the client's Session when the client uses one
// (WithSession); else, or when the daemon answers Unimplemented, the
// packed stream when the client uses packed frames (WithPacked) and the
// daemon has not said it lacks them; a daemon without SubscribePacked
// answers Unimplemented at once, and the v1 call follows.
func (s *Subscription) openStream(v1 func(context.Context) (eventStream, error), pk func(context.Context) (packedStream, error), open ...sessionOpen) (*stream, string, error) {
	if len(open) > 0 && s.c.useSession() {
		st, inst, err := s.openOnSession(open[0])
		if status.Code(err) != codes.Unimplemented {
			return st, inst, err
		}
		s.c.sessionUnimplemented()
	}
	if s.c.usePacked() {
		ctx, cancel := context.WithCancel(s.ctx)
		ps, err := pk(ctx)
		if err == nil {
			var hdr metadata.MD
			if hdr, err = ps.Header(); err == nil {
				// Header says nothing of a call the daemon refused (gRPC
				// keeps the status for Recv): the first event does.
				st := &stream{pk: ps, cancel: cancel, primed: true, lend: s.o.borrow && s.c.holdFrames()}
				st.first, st.firstErr = ps.Recv()
				if status.Code(st.firstErr) != codes.Unimplemented {
					return st, s.c.noteServer(hdr), nil
				}
			}
		}
		cancel()
		if err != nil && status.Code(err) != codes.Unimplemented {
			return nil, "", err
		}
		s.c.packedUnimplemented("SubscribePacked")
	}
	ctx, cancel := context.WithCancel(s.ctx)
	es, err := v1(ctx)
	if err != nil {
		cancel()
		return nil, "", err
	}
	hdr, err := es.Header()
	if err != nil {
		cancel()
		return nil, "", err
	}
	return &stream{v1: es, cancel: cancel}, s.c.noteServer(hdr), nil
}

// opened takes a stream's subscription_info: the subscription's id, and a
// gap the daemon reports on resume.
func (s *Subscription) opened(info *sidecarpb.SubscriptionInfo, instance string) {
	s.mu.Lock()
	if s.id != info.GetSubscriptionId() {
		s.warned = warnings{}
	}
	s.id = info.GetSubscriptionId()
	s.streaming = true
	s.mu.Unlock()
	if instance != "" {
		s.instance = instance
	}
	if info.GetGapDetected() {
		s.resumeMissed(int64(info.GetMissedMessageCount()))
	}
}

// run reads the subscription's streams until it ends: after each stream
// it pauses, resumes or reconnects as the phase and the stream's end say.
func (s *Subscription) run(st *stream) {
	defer s.c.wg.Done()
	var err error
	for st != nil {
		err = s.consume(st)
		st.cancel()
		s.mu.Lock()
		s.streaming = false
		s.mu.Unlock()
		st, err = s.next(err)
	}
	s.finish(err)
}

// next decides what follows a stream that ended with err: a paused wait
// and a resume, a reconnection, or the end (nil stream, and why).
func (s *Subscription) next(err error) (*stream, error) {
	for {
		if s.ctx.Err() != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			s.leave(ctx)
			cancel()
			return nil, nil
		}
		s.mu.Lock()
		p, changed := s.phase, s.changed
		s.mu.Unlock()
		switch p {
		case ending:
			return nil, nil
		case pausing, paused:
			// Wait for Pause's answer, then for Resume.
			select {
			case <-changed:
				continue
			case <-s.ctx.Done():
				return nil, nil
			}
		case resuming:
			st, err := s.resume()
			if err != nil && retryable(err) && s.ctx.Err() == nil {
				st, err = s.reconnect(err)
			}
			s.mu.Lock()
			if s.phase == resuming {
				s.setPhase(active)
			}
			answer := s.resumed
			s.resumed = nil
			s.mu.Unlock()
			if answer != nil {
				answer <- s.c.finish("resume", err)
			}
			return st, err
		}
		if !retryable(err) {
			return nil, err
		}
		return s.reconnect(err)
	}
}

// leave tells the daemon the subscription is over (Close, or the
// caller's ctx ended): the daemon would otherwise keep it for its resume
// window, taking its stream's end for a broken connection. Best effort,
// within ctx, once.
func (s *Subscription) leave(ctx context.Context) {
	s.mu.Lock()
	id, ending, left := s.id, s.phase == ending, s.left
	s.left = true
	s.mu.Unlock()
	if id == "" || ending || left || s.o.resumeWindow == 0 {
		return
	}
	s.c.api.Unsubscribe(ctx, &sidecarpb.UnsubscribeRequest{SubscriptionId: id})
}

// finish ends the subscription: C closes, Err says why.
func (s *Subscription) finish(err error) {
	s.mu.Lock()
	switch {
	case s.phase == ending:
		s.err = nil
	case err != nil:
		s.err = s.c.finish("subscribe", err)
	case s.ctx.Err() != nil:
		s.err = callErr("subscribe", context.Cause(s.ctx))
	}
	s.streaming = false
	s.mu.Unlock()
	s.c.mu.Lock()
	delete(s.c.subs, s)
	s.c.mu.Unlock()
	s.release()
	close(s.ch)
	close(s.done)
}
