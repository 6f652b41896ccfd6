package sim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nexusd/nexusd/internal/quadheap"
	"github.com/nexusd/nexusd/state"
)

// Options describe a world before it starts.
type Options struct {
	Nodes int
	Seed  uint64
	Net   NetConfig
	// Cluster of each node (index from 0); nil: all "sim".
	Cluster func(i int) string
	// Config adjusts each node's state.Config (index from 0), after the
	// defaults and the derived seed are set.
	Config func(i int, c *state.Config)
	// Keys is each node's cluster keyring (index from 0): key names, the
	// first its primary; empty for a node without a key. nil: no keys
	// anywhere. See keys.go.
	Keys func(i int) []string
	// Trace, if set, gets every event a node is handed and every effect it
	// returns, one line each, in their one-line text form.
	Trace func(line string)
	// Invariants says how often each node's own checks run (Paced when
	// zero; see checkInvariants).
	Invariants Checks
}

// epochMs is the wall clock every node starts from.
const epochMs = 1_767_225_600_000 // 2026-01-01T00:00:00Z

// World is a simulated mesh. It is driven by Run and the scenario and
// workload commands, all in one goroutine.
type World struct {
	opts  Options
	seed  uint64
	now   time.Duration
	rng   *rand.Rand           // network draws
	queue quadheap.Heap[event] // the agenda
	seq   uint64

	nodes  []*simNode
	keysOf map[string][][]string // keys.go: every keyring each instance held, when keys are modelled
	byAddr map[string]*simNode
	net    network

	paths      map[pathKey]*pushPath // push streams (pushpath.go)
	dirtyPaths []*pushPath           // paths with pushes queued by the step under way

	clients   map[string]*client // by name
	clientSeq int
	streamSeq uint64
	reqSeq    uint64

	injectReq    uint64            // the request of the push `inject` is stepping
	injectAnswer *state.AnswerPush // and how it was answered

	trace   trace
	stats   Stats
	checks  checker
	oracle  oracle
	groups  groupOracle // groups.go
	stopErr error       // first safety violation
}

// simNode is one daemon: a state.Node plus what its shell would hold.
type simNode struct {
	idx     int
	name    string // n1, n2...
	addr    string
	cluster string
	gen     int    // incarnation; bumped by restart
	id      string // instance id of this incarnation
	node    *state.Node
	up      bool

	pausedUntil time.Duration
	deferred    []event      // arrived while paused
	wallOffset  int64        // ms added to this node's wall clock
	keys        []string     // keys.go: its keyring, the primary first; none: no key
	beacons     uint64       // beacons this incarnation sent: its counter
	lastBeacon  state.Beacon // the last it sent, as anyone on the LAN could capture it
	tickAt      time.Duration
	timersSeen  uint64                   // the node's TimersSet at the last reschedule
	steps       uint64                   // steps and ticks so far: paces the full invariant checks
	leftSeen    map[string]time.Duration // instances this incarnation removed for leaving, and when (check.go)

	answers   map[uint64]*call   // our Req -> the call it answers
	streams   map[uint64]*client // stream handle -> client
	publishes map[uint64]func(*state.CompletePublish)
	unsubs    map[uint64]func(*state.CompleteUnsubscribe)
}

// New builds a world of opts.Nodes nodes, all up, none started: Start (or
// the first Run) starts them.
func New(opts Options) (*World, error) {
	if opts.Nodes < 1 || opts.Nodes > 4096 {
		return nil, fmt.Errorf("sim: %d nodes: want 1 to 4096", opts.Nodes)
	}
	if err := opts.Net.validate(); err != nil {
		return nil, err
	}
	w := &World{
		opts:    opts,
		seed:    opts.Seed,
		rng:     derive(opts.Seed, "network", 0),
		byAddr:  make(map[string]*simNode),
		paths:   make(map[pathKey]*pushPath),
		clients: make(map[string]*client),
		keysOf:  make(map[string][][]string),
	}
	w.net.init(opts.Nodes, opts.Net)
	w.checks.init()
	w.oracle.init()
	for i := range opts.Nodes {
		sn := &simNode{idx: i, name: fmt.Sprintf("n%d", i+1), cluster: "sim", tickAt: state.Never}
		sn.addr = sn.name + ":5671"
		if opts.Cluster != nil {
			sn.cluster = opts.Cluster(i)
		}
		if opts.Keys != nil {
			sn.keys = opts.Keys(i)
		}
		w.nodes = append(w.nodes, sn)
		w.byAddr[sn.addr] = sn
		if err := w.boot(sn); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// boot gives sn a fresh incarnation: a new instance id and an empty node.
func (w *World) boot(sn *simNode) error {
	if sn.id != "" {
		w.checks.formerNames[sn.id] = fmt.Sprintf("%s@%d", sn.name, sn.gen)
	}
	sn.gen++
	w.dropPaths(sn)
	r := derive(w.seed, "node", sn.idx*1000+sn.gen)
	sn.id = state.NewUUID(r)
	if w.opts.Keys != nil {
		w.keysOf[sn.id] = [][]string{sn.keys}
	}
	if w.opts.Trace != nil {
		w.opts.Trace(fmt.Sprintf("%s %s is instance %s", fmtDur(w.now), sn.name, sn.id))
	}
	cfg := state.DefaultConfig(sn.id, sn.cluster, r)
	cfg.Members = len(sn.keys) > 0
	cfg.PoisonReused = true // a message used again while held shows in the checks
	if w.opts.Config != nil {
		w.opts.Config(sn.idx, &cfg)
	}
	n, err := state.New(cfg)
	if err != nil {
		return fmt.Errorf("sim: node %s: %w", sn.name, err)
	}
	sn.node = n
	sn.up = true
	sn.pausedUntil = 0
	sn.beacons = 0
	sn.deferred = nil
	sn.tickAt = state.Never
	sn.answers = make(map[uint64]*call)
	sn.streams = make(map[uint64]*client)
	sn.publishes = make(map[uint64]func(*state.CompletePublish))
	sn.unsubs = make(map[uint64]func(*state.CompleteUnsubscribe))
	sn.leftSeen = make(map[string]time.Duration)
	return nil
}

// Now is the world's virtual time since it started.
func (w *World) Now() time.Duration { return w.now }

// Seed is the root seed.
func (w *World) Seed() uint64 { return w.seed }

// Node returns node i (from 1) for inspection.
func (w *World) Node(i int) *state.Node { return w.nodes[i-1].node }

// instant is what sn's clocks read now.
func (w *World) instant(sn *simNode) state.Instant {
	return state.Instant{Mono: w.now, WallMs: epochMs + w.now.Milliseconds() + sn.wallOffset}
}

func (w *World) schedule(at time.Duration, e event) {
	w.seq++
	w.queue.Push(quadheap.Item[event]{At: at, Seq: w.seq, V: e})
}

// at schedules fn at time t (or now, if t is past).
func (w *World) at(t time.Duration, fn func()) {
	w.schedule(max(t, w.now), event{kind: evAction, fn: fn})
}

// stepLater hands sn an event at time t, as its shell would.
func (w *World) stepLater(t time.Duration, sn *simNode, ev state.Event) {
	w.schedule(max(t, w.now), event{kind: evStep, node: sn, gen: sn.gen, ev: ev})
}

// Start starts every node: each sends its first beacon now.
func (w *World) Start() {
	for _, sn := range w.nodes {
		w.tick(sn)
	}
}

// Run processes the events before virtual time until and moves the clock
// to until, or stops when a safety check fails (the error names it).
// Events at until itself wait, so whatever the caller does next "at until"
// comes first among them, as a pre-scheduled action would: a run and its
// recording as a scenario replay alike.
func (w *World) Run(until time.Duration) error {
	for len(w.queue) > 0 && w.queue[0].At < until {
		if w.stopErr != nil {
			return w.stopErr
		}
		it := w.queue.Pop()
		w.now = it.At
		w.dispatch(it.V)
	}
	if until > w.now {
		w.now = until
	}
	return w.stopErr
}

// RunFor runs for d of virtual time.
func (w *World) RunFor(d time.Duration) error { return w.Run(w.now + d) }

func (w *World) dispatch(e event) {
	sn := e.node
	switch e.kind {
	case evAction:
		e.fn()
		return
	case evBeacon:
		w.deliverBeacon(e)
		return
	case evTimeout:
		w.timeout(e.call)
		return
	case evResponse:
		w.respond(e)
		return
	case evPushBatch: // addressed to whoever runs at that address now
		if sn.up && w.now < sn.pausedUntil {
			sn.deferred = append(sn.deferred, e)
			return
		}
		w.serveBatch(sn, e.ev.(*pushBatch))
		return
	case evRequest: // addressed to whoever runs at that address now
		switch {
		case !sn.up:
			w.failSoon(e.call, errRefused)
		case w.now < sn.pausedUntil:
			sn.deferred = append(sn.deferred, e)
		default:
			w.serve(sn, e.call)
		}
		return
	}
	if sn.gen != e.gen || !sn.up {
		return // for an incarnation that is gone
	}
	if w.now < sn.pausedUntil {
		sn.deferred = append(sn.deferred, e)
		return
	}
	switch e.kind {
	case evPushAnswer:
		w.takeAnswer(e.ev.(*pushBatch))
	case evTick:
		if w.now != sn.tickAt {
			return // superseded by an earlier tick
		}
		sn.tickAt = state.Never
		w.tick(sn)
	case evStep:
		w.step(sn, e.ev.(state.Event))
	}
}

// step hands sn one event and carries out its effects.
func (w *World) step(sn *simNode, ev state.Event) {
	w.trace.event(w.now, sn.idx, ev)
	if w.opts.Trace != nil {
		w.opts.Trace(fmt.Sprintf("%s %s <- %s", fmtDur(w.now), sn.name, ev))
	}
	switch e := ev.(type) {
	case *state.PushReceived:
		w.noteArrivals(sn, e.Envs)
	case *state.ResendCompleted:
		if e.Reply != nil && !sn.node.VouchesStamp(e.Call) { // a stamp's vouch is no arrival
			w.noteArrivals(sn, e.Reply.Msgs)
		}
	}
	leaver := leaverOf(sn, ev)
	w.handle(sn, sn.node.Step(w.instant(sn), ev))
	w.checkInvariants(sn)
	w.checkLeft(sn, ev, leaver)
	if e, ok := ev.(*state.FetchCompleted); ok {
		w.learnFetch(sn, e.State)
		w.noteGroupLearned(sn, e.State)
	}
}

// Checks is how often a world runs its nodes' own invariant checks.
type Checks uint8

const (
	// Paced: bounds (constant time) after every step, the full walk of all
	// a node holds every fullCheckEvery-th step of the node or every
	// twice-its-peers-th (a walk visits every peer, and every peer's
	// beacon is a step), whichever is rarer.
	Paced Checks = iota
	// SmallEveryStep: as Paced, and the full walk after every step while
	// the node holds less than fullCheckBytes of messages (scenarios).
	SmallEveryStep
	// EveryStep: the full walk after every step (slow; finds the very step
	// that breaks one).
	EveryStep
	// NoChecks: none (to measure what they cost).
	NoChecks
)

// ParseChecks reads paced, every-step or off.
func ParseChecks(s string) (Checks, error) {
	switch s {
	case "paced":
		return Paced, nil
	case "every-step":
		return EveryStep, nil
	case "off":
		return NoChecks, nil
	}
	return 0, fmt.Errorf("invariants %q: want paced, every-step or off", s)
}

// checkInvariants runs the node's own checks after a step, as
// Options.Invariants says. A broken one is a safety violation.
func (w *World) checkInvariants(sn *simNode) {
	sn.steps++
	mode := w.opts.Invariants
	if mode == NoChecks {
		return
	}
	check := sn.node.CheckBounds
	every := max(fullCheckEvery, 2*uint64(sn.node.PeerCount()))
	if mode == EveryStep || sn.steps%every == 0 || (mode == SmallEveryStep && held(sn.node) < fullCheckBytes) {
		check = sn.node.CheckInvariants
	}
	if err := check(); err != nil {
		w.violate("invariant", fmt.Sprintf("%s: %v", sn.name, err))
	}
}

// fullCheckEvery spaces the full invariant walks of a node: after every
// step they cost a large simulation 70 times its run time. fullCheckBytes
// is how much a node may hold for a scenario to walk it after every step.
const (
	fullCheckEvery = 128
	fullCheckBytes = 1 << 20
)

// held is what a node holds in messages, the dedup filter's fixed cost aside.
func held(n *state.Node) int {
	m := n.Memory()
	return m.Total - m.Dedup
}

// CheckInvariants runs every running node's full invariant check now.
func (w *World) CheckInvariants() []string {
	var out []string
	for _, sn := range w.upNodes() {
		if err := sn.node.CheckInvariants(); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", sn.name, err))
		}
	}
	for _, o := range out {
		w.violate("invariant", o)
	}
	return out
}

func (w *World) tick(sn *simNode) {
	w.trace.tick(w.now, sn.idx)
	if w.opts.Trace != nil {
		w.opts.Trace(fmt.Sprintf("%s %s tick", fmtDur(w.now), sn.name))
	}
	w.handle(sn, sn.node.Tick(w.instant(sn)))
	w.checkInvariants(sn)
}

// reschedule makes sure sn is ticked at its next deadline. Unless the node
// set a timer since, its deadline can only have moved later, and the tick
// already planned (early at worst) stands.
func (w *World) reschedule(sn *simNode) {
	if v := sn.node.TimersSet(); v != sn.timersSeen || sn.tickAt == state.Never {
		sn.timersSeen = v
	} else {
		return
	}
	d := sn.node.NextDeadline()
	if d < sn.tickAt {
		sn.tickAt = d
		w.schedule(max(d, w.now), event{kind: evTick, node: sn, gen: sn.gen})
	}
}

// Crash stops node i (from 1): it processes nothing until Restart, and
// calls to it fail.
func (w *World) Crash(i int) {
	if w.stop(i) {
		w.stats.Crashes++
	}
}

// stop stops node i, if it is up, and reports whether it was.
func (w *World) stop(i int) bool {
	sn := w.nodes[i-1]
	if !sn.up {
		return false
	}
	sn.up = false
	sn.deferred = nil
	for _, c := range w.sortedClients() {
		if c.node == sn && !c.ended {
			c.end("crash")
		}
	}
	return true
}

// Leave stops node i gracefully, as the daemon does: it announces that it
// is leaving (one leave beacon, delayed and lost as any beacon), calls
// Leave on the mesh of every peer it knows (a notice, delayed, lost and
// cut as any unicast), then stops as a crash does.
func (w *World) Leave(i int) {
	sn := w.nodes[i-1]
	if !sn.up {
		return
	}
	w.step(sn, &state.Leaving{})
	for _, r := range w.nodes {
		if r == sn || !r.up || !sn.node.KnowsPeer(r.id) {
			continue
		}
		if at, ok := w.transit(sn, r); ok {
			w.stepLater(at, r, &state.LeaveNoticed{Instance: sn.id, From: sn.addr})
		}
	}
	w.stop(i)
	w.stats.Leaves++
}

// Restart brings a crashed (or running) node i back as a new instance
// with empty state, at the same address.
func (w *World) Restart(i int) error {
	sn := w.nodes[i-1]
	if sn.up {
		w.Crash(i)
	}
	if err := w.boot(sn); err != nil {
		return err
	}
	w.stats.Restarts++
	w.tick(sn)
	return nil
}

// Pause stops node i from processing anything for d; what arrives waits.
func (w *World) Pause(i int, d time.Duration) {
	sn := w.nodes[i-1]
	if !sn.up {
		return
	}
	until := w.now + d
	if until <= sn.pausedUntil {
		return
	}
	sn.pausedUntil = until
	gen := sn.gen
	w.at(until, func() {
		if sn.gen == gen && sn.up && w.now >= sn.pausedUntil && len(sn.deferred) > 0 {
			w.resumeNode(sn)
		}
	})
}

// Wake ends node i's pause now, if it is paused.
func (w *World) Wake(i int) {
	sn := w.nodes[i-1]
	if sn.up && w.now < sn.pausedUntil {
		sn.pausedUntil = w.now
		w.resumeNode(sn)
	}
}

// resumeNode lets a node that was paused catch up: what arrived meanwhile,
// in order, then its timers.
func (w *World) resumeNode(sn *simNode) {
	queued := sn.deferred
	sn.deferred = nil
	for _, e := range queued {
		w.dispatch(e)
	}
	sn.tickAt = state.Never
	w.tick(sn)
}

// JumpClock moves node i's wall clock by d (its monotonic clock is not
// affected, as on a real machine).
func (w *World) JumpClock(i int, d time.Duration) { w.nodes[i-1].wallOffset += d.Milliseconds() }

// Up reports whether node i is running (not crashed).
func (w *World) Up(i int) bool { return w.nodes[i-1].up }

// Size is the number of nodes.
func (w *World) Size() int { return len(w.nodes) }

// nameOf maps an instance id to the node's name, marking old incarnations
// ("n3" now, "n3@1" for the first incarnation after a restart).
func (w *World) nameOf(id string) string {
	for _, sn := range w.nodes {
		if sn.id == id {
			return sn.name
		}
	}
	if name, ok := w.checks.formerNames[id]; ok {
		return name
	}
	return "?" + id
}
