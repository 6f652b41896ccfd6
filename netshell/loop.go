package netshell

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/nexusd/nexusd/state"
)

// errStopped answers whoever waits on a loop that has stopped.
var errStopped = errors.New("nexusd is shutting down")

// meshCalls is what the loop asks of the mesh client. Every method returns
// at once; each call is completed later by exactly one event posted back
// (the ledger makes sure of it even if the transport never answers).
type meshCalls interface {
	Fetch(call uint64, peer, addr string)
	Probe(call uint64, peer, addr string, move bool)
	// PushRun pushes run, in order, to one peer; run is valid only
	// during the call.
	PushRun(peer, addr string, run []queuedPush)
	Resend(e state.RequestResend)
	ClosePeer(peer, addr string)
	Sweep() // close connections idle for long
}

// announcer sends beacons; it returns at once. Leave sends the last ones,
// saying the daemon is stopping.
type announcer interface {
	Announce(hash uint64)
	Leave(hash uint64)
}

// replier takes the answer to a request event (AnswerState, AnswerPush,
// AnswerResend, CompletePublish, CompleteUnsubscribe). The loop calls it
// with a copy of the effect, and it must not block.
type replier interface{ answer(state.Effect) }

// publishReplier takes publish answers a run at a time, without the loop
// copying each to the heap: it must copy what it keeps before returning.
// answerRun takes n consecutive requests from first, each published.
type publishReplier interface {
	replier
	answerPublishes([]state.CompletePublish)
	answerRun(first uint64, n int)
}

// frameLender is a frame lent to the node (PublishedBatch.Frame), which
// the node gives back once (state.ReleaseFrame).
type frameLender interface{ releaseFrame(recycle bool) }

// replyChan is the replier of one unary request: room for its one answer.
type replyChan chan state.Effect

func (c replyChan) answer(e state.Effect) { c <- e }

func newReplyChan() replyChan { return make(replyChan, 1) }

// input is one thing for the loop to do.
type input struct {
	ev     state.Event   // step this event
	evs    []state.Event // or these, in order
	reply  replier       // answers to the events' Req go here
	stream *subStream    // registered before a Subscribed or Resumed is stepped
	fn     func(*loop)   // or run this on the loop (queries, barriers)
}

// loopStats are counts only the loop sees; read them through a query.
type loopStats struct {
	DeliveredLocalOrigin  uint64 // live messages handed to streams that were published here
	DeliveredRemoteOrigin uint64 // ... that came from peers
	CallsTimedOut         uint64 // calls the ledger completed
	LateCompletions       uint64 // transport answers that came after the ledger's
	Events                uint64 // events stepped
	Ticks                 uint64
	PublishesHeld         uint64 // publish inputs held while a link was backed up (take)
}

// loop is the goroutine that owns the node.
type loop struct {
	node     *state.Node
	id       string
	clk      clock.Clock
	start    time.Time
	log      *slog.Logger
	trace    bool
	in       chan input
	ctl      chan input    // credit grants: ahead of everything in in
	done     chan struct{} // closed when run returns
	stopping chan struct{} // closed when shutdown begins: waiters give up
	reqs     atomic.Uint64 // request ids and stream handles, never reused
	mesh     meshCalls
	beacons  announcer
	metrics  *metrics

	ledger  *ledger
	replies waitingReplies // requests answered later than the step that took them
	streams map[uint64]*subStream

	// The requests being stepped, stepN consecutive ids from stepReq (one,
	// or a frame of publishes): an answer the step gives goes straight to
	// stepReply, and only requests left waiting (publishes held by the
	// block policy) are filed in replies when the step ends, as one span.
	stepReq      uint64
	stepN        uint64
	stepReply    replier
	stepAnswered []uint64 // bit i: stepReq+i has been answered
	stepLeft     int      // requests of the step not answered yet

	// Deliveries gathered for one stream, put in its mailbox together.
	outStream *subStream
	outs      []streamItem
	// Pushes gathered for one peer, handed to its link together.
	pushPeer, pushAddr string
	pushRun            []queuedPush
	// Publish answers gathered for one publisher, handed over together.
	pubReplier publishReplier
	pubAnswers []state.CompletePublish
	timer      *deadlineTimer
	pressure   peerPressure
	held       []heldInput   // publishes taken while a link was backed up (peer_pressure.go)
	holdMost   time.Duration // how long one is held at most: --block-timeout
	scratch    []state.Event
	stats      loopStats
}

func newLoop(node *state.Node, clk clock.Clock, log *slog.Logger, m *metrics, queue int, callTimeout, blockTimeout time.Duration) *loop {
	return &loop{
		node:     node,
		id:       node.ID(),
		clk:      clk,
		start:    clk.Now(),
		log:      log,
		trace:    log.Enabled(context.Background(), LevelTrace),
		in:       make(chan input, queue),
		ctl:      make(chan input, 256), // grants and completions: one per quarter window, per answered frame
		done:     make(chan struct{}),
		stopping: make(chan struct{}),
		metrics:  m,
		// The backstop fires after the transports' own deadlines.
		ledger:   newLedger(callTimeout + callTimeout/2),
		streams:  make(map[uint64]*subStream),
		timer:    newDeadlineTimer(clk),
		pressure: peerPressure{waits: &m.shell.publishWaits},
		holdMost: blockTimeout,
	}
}

// run owns the node until ctx ends. The first tick sends the first beacon.
func (l *loop) run(ctx context.Context) {
	defer close(l.done)
	defer l.timer.stop()
	l.tick()
	for {
		l.arm()
		select {
		case <-ctx.Done():
			return
		case in := <-l.ctl:
			l.control(in)
		case in := <-l.in:
			l.take(in)
			// Take what else is waiting before re-arming the timer, credit
			// and completions first: a subscriber must drain, and a peer's
			// answers free the push window, while publishers pour in.
			for range 256 {
				select {
				case c := <-l.ctl:
					l.control(c)
					continue
				default:
				}
				select {
				case in = <-l.in:
					l.take(in)
					continue
				default:
				}
				break
			}
		case <-l.timer.c():
			l.tick()
		}
	}
}

// post hands the loop an input; it blocks while the loop is busy and fails
// once the loop has stopped or ctx ends. The loop never posts to itself.
func (l *loop) post(ctx context.Context, in input) error {
	select {
	case l.in <- in:
		return nil
	case <-l.done:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// postControl is post for credit grants, which the loop takes ahead of
// requests: the way out of the node must not wait behind the way in. A
// grant is only ever for a stream the loop already knows.
func (l *loop) postControl(ctx context.Context, ev state.Event) error {
	return l.postAhead(ctx, input{ev: ev})
}

// postAhead posts in on the channel the loop takes ahead of requests:
// credit grants and transport completions.
func (l *loop) postAhead(ctx context.Context, in input) error {
	select {
	case l.ctl <- in:
		return nil
	case <-l.done:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newID is a fresh request id or stream handle.
func (l *loop) newID() uint64 { return l.reqs.Add(1) }

// newIDs reserves n consecutive request ids and returns the first.
func (l *loop) newIDs(n int) uint64 { return l.reqs.Add(uint64(n)) - uint64(n) + 1 }

// ask posts one request event and waits for its answer. It gives up when
// ctx ends or shutdown begins; the answer, if it comes later, is dropped.
func (l *loop) ask(ctx context.Context, ev state.Event) (state.Effect, error) {
	ch := newReplyChan()
	if err := l.post(ctx, input{ev: ev, reply: ch}); err != nil {
		return nil, err
	}
	select {
	case e := <-ch:
		return e, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.stopping:
		return nil, errStopped
	case <-l.done:
		return nil, errStopped
	}
}

// complete posts transport completions (never called on the loop). They
// go ahead of requests, as credit does: a peer's answer frees room in its
// push window, and behind the publish frames queued meanwhile (a thousand
// messages each to step) the window it would open stood full longer. They
// keep their order among themselves (one channel), and nothing they
// overtake was ordered with them: requests come from other goroutines.
func (l *loop) complete(evs ...state.Event) {
	if len(evs) == 0 {
		return
	}
	in := input{evs: evs}
	if len(evs) == 1 {
		in = input{ev: evs[0]}
	}
	_ = l.postAhead(context.Background(), in)
}

// control steps an input taken ahead of requests, then the publishes held
// while a link was backed up, if it no longer is (as take does).
func (l *loop) control(in input) {
	l.handle(in)
	l.release()
}

// query runs f on the loop and waits for it; f may read the node.
func (l *loop) query(ctx context.Context, f func(*loop)) error {
	done := make(chan struct{})
	if err := l.post(ctx, input{fn: func(l *loop) { f(l); close(done) }}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-l.done:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// barrier returns once the loop has handled everything posted before it
// and armed its timer for the next deadline (tests on a mock clock).
func (l *loop) barrier(ctx context.Context) error {
	return l.query(ctx, func(l *loop) { l.arm() })
}

func (l *loop) now() state.Instant {
	return state.Instant{Mono: l.clk.Since(l.start), WallMs: l.clk.Now().UnixMilli()}
}

// arm sets the timer for the node's next deadline or the ledger's. A
// deadline already past is ticked now rather than left to a timer that
// may already have fired unread.
func (l *loop) arm() {
	for range 16 {
		next := min(l.node.NextDeadline(), l.ledger.next(), l.heldDeadline())
		if next == state.Never {
			l.timer.stop()
			return
		}
		if wait := next - l.clk.Since(l.start); wait > 0 {
			l.timer.reset(wait)
			return
		}
		l.tick()
	}
	l.timer.reset(0)
}

func (l *loop) tick() {
	now := l.now()
	l.stats.Ticks++
	l.dispatch(now, l.node.Tick(now))
	l.scratch = l.ledger.expire(now.Mono, l.scratch[:0])
	for _, ev := range l.scratch {
		l.stats.CallsTimedOut++
		l.log.Debug("call timed out", "event", ev.String())
		l.dispatch(now, l.node.Step(now, ev))
	}
	clear(l.scratch)
	l.flushAnswers()
	l.flushPushes()
	l.flushOuts()
	if l.pressure.backed.Load() || l.pressure.busy.Load() { // timers rest links and remove peers
		l.notePressure()
	}
	l.release()
}

// notePressure takes the node's peer pressure for publish streams:
// whether they wait (peerPressure.backed) and their credit (busy).
func (l *loop) notePressure() {
	backed, busy := l.node.PeerPressure()
	l.pressure.set(backed)
	l.pressure.busy.Store(busy)
}

func (l *loop) handle(in input) {
	if in.fn != nil {
		in.fn(l)
		return
	}
	if in.stream != nil {
		l.streams[in.stream.handle] = in.stream
	}
	now := l.now()
	if in.ev != nil {
		l.step(now, in.ev, in.reply)
	}
	for _, ev := range in.evs {
		l.step(now, ev, in.reply)
	}
	// Deliveries last: the goroutine woken last is the one Go runs next
	// on this core once the loop waits, so the subscriber's stream goes
	// before the publisher's answer instead of behind it.
	l.flushAnswers()
	l.flushPushes()
	l.flushOuts()
	if l.pressure.backed.Load() || l.pressure.busy.Load() { // a publish's step noted it already (step)
		l.notePressure()
	}
}

// isPublish reports whether ev is a local publish: only those fill links
// (what a peer's state fetch adds is small), so while no link is backed
// up the loop asks the node again only after one.
func isPublish(ev state.Event) bool {
	switch ev.(type) {
	case *state.Published, *state.PublishedBatch:
		return true
	}
	return false
}

func (l *loop) step(now state.Instant, ev state.Event, reply replier) {
	if call, ok := completionCall(ev); ok {
		c, open := l.ledger.finish(call)
		if !open {
			l.stats.LateCompletions++
			return
		}
		if c.kind == callFetch {
			l.metrics.syncSeconds.Observe((now.Mono - c.started).Seconds())
		}
	}
	if reply != nil {
		l.beginStep(requestsOf(ev))
		l.stepReply = reply
	}
	l.stats.Events++
	if l.trace {
		l.log.Log(context.Background(), LevelTrace, "event", "ev", ev.String())
	}
	var newPeer *state.Beacon
	if b, ok := ev.(*state.BeaconReceived); ok && !l.node.KnowsPeer(b.Beacon.Instance) {
		newPeer = &b.Beacon
	}
	effects := l.node.Step(now, ev)
	if isPublish(ev) {
		// Before the answers go out: PublishPacked's acks give the credit
		// this step's pushes call for (publishStream.narrow).
		l.notePressure()
	}
	l.dispatch(now, effects)
	if reply != nil {
		l.endStep()
	}
	if newPeer != nil && l.node.KnowsPeer(newPeer.Instance) {
		l.log.Info("peer discovered", "peer", newPeer.Instance, "addr", newPeer.Addr)
	}
}

// dispatch carries out effects. They are valid only until the next Step,
// so whatever leaves the loop is a copy or immutable (messages, states).
func (l *loop) dispatch(now state.Instant, effs []state.Effect) {
	for _, eff := range effs {
		if l.trace {
			l.log.Log(context.Background(), LevelTrace, "effect", "eff", eff.String())
		}
		switch e := eff.(type) {
		case *state.SendBeacon:
			l.flushPushes() // the mesh client sees every push before any other call
			if e.Leaving {
				l.beacons.Leave(e.Hash)
				break
			}
			l.beacons.Announce(e.Hash)
			l.mesh.Sweep()
		case *state.FetchState:
			l.flushPushes()
			l.ledger.start(e.Call, callFetch, now.Mono)
			l.mesh.Fetch(e.Call, e.Peer, e.Addr)
		case *state.Probe:
			if e.Move {
				l.log.Info("peer silent at its address and announced at another; probing the new one", "peer", e.Peer, "new_addr", e.Addr)
			} else {
				l.log.Info("peer silent; probing it", "peer", e.Peer, "addr", e.Addr)
			}
			l.flushPushes()
			l.ledger.start(e.Call, callProbe, now.Mono)
			l.mesh.Probe(e.Call, e.Peer, e.Addr, e.Move)
		case *state.AddressConflict:
			l.log.Warn("two addresses claim one peer: keeping the one in use (two daemons share an id, or beacons are forged: set --cluster-key)",
				"peer", e.Peer, "addr", e.Addr, "claimed_addr", e.Claimed)
		case *state.Push:
			// No ledger entry: the push link completes every push itself
			// (acked, refused, or failed when its stream breaks or stalls),
			// and a push is the one call made per message.
			if len(l.pushRun) > 0 && (e.Peer != l.pushPeer || e.Addr != l.pushAddr) {
				l.flushPushes()
			}
			l.pushPeer, l.pushAddr = e.Peer, e.Addr
			l.pushRun = slices.Grow(l.pushRun, 1)[:len(l.pushRun)+1]
			q := &l.pushRun[len(l.pushRun)-1] // filled in place: outPush.set
			q.call = e.Call
			q.o.set(e)
		case *state.RequestResend:
			l.flushPushes()
			l.ledger.start(e.Call, callResend, now.Mono)
			l.mesh.Resend(*e)
		case *state.ReportGap:
			l.reportGap(e)
		case *state.ClosePeer:
			l.log.Info("peer removed", "peer", e.Peer, "addr", e.Addr)
			l.flushPushes()
			l.mesh.ClosePeer(e.Peer, e.Addr)
		case *state.AnswerState:
			l.answer(e.Req, &state.AnswerState{Req: e.Req, State: e.State})
		case *state.AnswerPush:
			c := *e
			if e.Errs != nil {
				c.Errs = append([]error(nil), e.Errs...)
			}
			l.answer(e.Req, &c)
		case *state.AnswerResend:
			c := *e
			c.Reply.Msgs = append([]state.Envelope(nil), e.Reply.Msgs...)
			l.answer(e.Req, &c)
		case *state.CompletePublish:
			switch r := l.replierOf(e.Req).(type) {
			case publishReplier:
				if r != l.pubReplier {
					l.flushAnswers()
					l.pubReplier = r
				}
				l.pubAnswers = append(l.pubAnswers, *e)
			case nil:
				l.log.Error("answer to an unknown request", "req", e.Req, "effect", e.String())
			default:
				c := *e
				r.answer(&c)
			}
		case *state.CompletePublishRun:
			l.answerRun(e)
		case *state.CompleteUnsubscribe:
			c := *e
			l.answer(e.Req, &c)
		case *state.Deliver:
			l.deliver(e)
		case *state.ReleaseFrame:
			if f, ok := e.Frame.(frameLender); ok {
				f.releaseFrame(e.Recycle)
			}
		case *state.EndStream:
			if st := l.streams[e.Stream]; st != nil {
				l.flushOuts()
				delete(l.streams, e.Stream)
				st.end(e.Err)
			}
		default:
			l.log.Error("effect not handled by the shell", "effect", eff.String())
		}
	}
}

// reportGap logs numbers the node passed over: declared lost (the topic's
// subscribers were told) at warning level, never meant for this node at
// debug level. The node's counters carry the totals.
func (l *loop) reportGap(e *state.ReportGap) {
	if e.Lost {
		l.log.Warn("messages lost in the mesh", "source", e.Source, "topic", e.Topic,
			"from", e.From, "to", e.To, "count", e.To-e.From+1, "why", e.Why)
		return
	}
	l.log.Debug("sequence numbers not meant for this node", "source", e.Source, "topic", e.Topic,
		"from", e.From, "to", e.To, "why", e.Why)
}

func (l *loop) answer(req uint64, e state.Effect) {
	r := l.replierOf(req)
	if r == nil {
		l.log.Error("answer to an unknown request", "req", req, "effect", e.String())
		return
	}
	r.answer(e)
}

// beginStep notes the requests of the event about to be stepped: n
// consecutive ids from first (none when first is 0).
func (l *loop) beginStep(first uint64, n int) {
	if first == 0 {
		n = 0
	}
	l.stepReq, l.stepN, l.stepLeft = first, uint64(n), n
	words := (n + 63) / 64
	if cap(l.stepAnswered) < words {
		l.stepAnswered = make([]uint64, words)
	}
	l.stepAnswered = l.stepAnswered[:words]
	clear(l.stepAnswered)
}

// endStep files the step's requests left unanswered in replies, to be
// answered by a later step.
func (l *loop) endStep() {
	if l.stepLeft > 0 {
		l.replies.file(l.stepReq, l.stepN, l.stepLeft, l.stepReply, l.stepAnswered)
	}
	l.stepReq, l.stepN, l.stepReply, l.stepLeft = 0, 0, nil, 0
}

// answerRun hands a run of publish answers to their publisher: the run
// is the Step's own requests, answered by one replier. Any other run is
// answered request by request.
func (l *loop) answerRun(e *state.CompletePublishRun) {
	if r, ok := l.stepReply.(publishReplier); ok && e.N > 0 && e.First >= l.stepReq && e.First-l.stepReq+uint64(e.N) <= l.stepN {
		for i := e.First - l.stepReq; i < e.First-l.stepReq+uint64(e.N); i++ {
			if w, bit := i/64, uint64(1)<<(i%64); l.stepAnswered[w]&bit == 0 {
				l.stepAnswered[w] |= bit
				l.stepLeft--
			}
		}
		r.answerRun(e.First, e.N)
		return
	}
	for i := range uint64(e.N) {
		c := state.CompletePublish{Req: e.First + i}
		switch r := l.replierOf(c.Req).(type) {
		case publishReplier:
			r.answerRun(c.Req, 1)
		case nil:
			l.log.Error("answer to an unknown request", "req", c.Req, "effect", e.String())
		default:
			r.answer(&c)
		}
	}
}

// replierOf finds, and forgets, who waits for the answer to req.
func (l *loop) replierOf(req uint64) replier {
	if i := req - l.stepReq; i < l.stepN {
		if w, bit := i/64, uint64(1)<<(i%64); l.stepAnswered[w]&bit == 0 {
			l.stepAnswered[w] |= bit
			l.stepLeft--
			return l.stepReply
		}
	}
	return l.replies.take(req)
}

func (l *loop) deliver(e *state.Deliver) {
	st := l.outStream // a run's deliveries mostly go to one stream
	if st == nil || st.handle != e.Stream {
		if st = l.streams[e.Stream]; st == nil {
			l.log.Error("delivery to an unknown stream", "effect", e.String())
			return
		}
	}
	if e.Out.Kind == state.OutMessage {
		k := uint64(e.More) + 1
		if e.Out.Msg.Source == l.id {
			l.stats.DeliveredLocalOrigin += k
		} else {
			l.stats.DeliveredRemoteOrigin += k
		}
	}
	if st != l.outStream {
		l.flushOuts()
		l.outStream = st
	}
	switch {
	case e.More == 0:
		l.outs = append(l.outs, outItem(e.Out))
	case st.runs:
		l.outs = append(l.outs, streamItem{run: e.Run()})
	default: // the node gives runs to streams by number only, which take them
		for j := 0; j <= e.More; j++ {
			l.outs = append(l.outs, streamItem{run: state.OneMessage(e.At(j))})
		}
	}
}

// flushAnswers hands the publish answers gathered for one publisher over
// in one go.
func (l *loop) flushAnswers() {
	if len(l.pubAnswers) > 0 {
		l.pubReplier.answerPublishes(l.pubAnswers)
	}
	clear(l.pubAnswers)
	l.pubAnswers, l.pubReplier = l.pubAnswers[:0], nil
}

// flushPushes hands the pushes gathered for one peer to the mesh client
// in one go.
func (l *loop) flushPushes() {
	if len(l.pushRun) == 0 {
		return
	}
	l.mesh.PushRun(l.pushPeer, l.pushAddr, l.pushRun)
	clear(l.pushRun)
	l.pushRun = l.pushRun[:0]
}

// flushOuts hands the deliveries gathered for one stream to its mailbox in
// one go.
func (l *loop) flushOuts() {
	if l.outStream != nil && len(l.outs) > 0 {
		l.outStream.putMany(l.outs)
	}
	clear(l.outs)
	l.outs = l.outs[:0]
	l.outStream = nil
}

// requestsOf is the requests of an event the node answers with one effect
// each: n consecutive ids from first. A frame of publishes takes its ids
// from newIDs, in order; n is 0 for an event that is no request.
func requestsOf(ev state.Event) (first uint64, n int) {
	switch e := ev.(type) {
	case *state.StateRequested:
		return e.Req, 1
	case *state.PushReceived:
		return e.Req, 1
	case *state.ResendRequested:
		return e.Req, 1
	case *state.Published:
		return e.Req, 1
	case *state.PublishedBatch:
		if len(e.Pubs) == 0 {
			return 0, 0
		}
		return e.Pubs[0].Req, len(e.Pubs)
	case *state.Unsubscribed:
		return e.Req, 1
	}
	return 0, 0
}
