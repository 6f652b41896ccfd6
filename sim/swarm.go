package sim

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/nexusd/nexusd/state"
)

// SwarmOptions shape a randomized run. One seed derives the world, the
// workload and the fault plan's timing.
type SwarmOptions struct {
	Nodes      int
	Seed       uint64
	Duration   time.Duration // the safety phase, faults on
	Faults     FaultPlan
	FaultsText string            // the plan as given, for the replay command
	Topics     int               // distinct topics published to (default 8)
	Rate       float64           // publishes per second over the whole mesh (default 50)
	Record     bool              // keep the run as a scenario script (Summary.Script)
	Trace      func(line string) // every event and effect, as Options.Trace
	Invariants Checks            // how often nodes check their invariants (Paced)
	// Intruders, when above zero, runs the mesh with a cluster key and
	// adds that many nodes without it (every other one holding another
	// key): they beacon, subscribe and publish like the rest, and must
	// never become a member's peer or exchange a message with one.
	Intruders int
	// Groups, when above zero, adds that many queue groups of three
	// members each, checked at the end (swarm_groups.go).
	Groups int
}

// Summary is what a swarm run reports.
type Summary struct {
	Nodes       int           `json:"nodes"`
	Seed        uint64        `json:"seed"`
	Faults      string        `json:"faults"`
	VirtualTime time.Duration `json:"virtual_time_ns"`
	WallTime    time.Duration `json:"wall_time_ns"`
	Events      uint64        `json:"events"`

	Published uint64 `json:"messages_published"`
	Delivered uint64 `json:"deliveries"`
	InRuns    uint64 `json:"deliveries_in_runs"` // of them, handed out in runs (state.Deliver.More)
	Dropped   uint64 `json:"drops"`
	Expired   uint64 `json:"expired"`
	Gaps      uint64 `json:"gap_messages"`
	Repaired  uint64 `json:"repaired"`
	Crashes   uint64 `json:"crashes"`
	Leaves    uint64 `json:"leaves"`

	// What the checkers saw, by kind (see oracle.go): each should be 0.
	SilentLosses    uint64 `json:"silent_losses"`
	NeedlessLosses  uint64 `json:"needless_losses"`
	PhantomLosses   uint64 `json:"phantom_losses"`
	Duplicates      uint64 `json:"duplicates"`
	OrderViolations uint64 `json:"order_violations"`

	Partitions  uint64 `json:"partitions"`
	Pauses      uint64 `json:"pauses"`
	LostPackets uint64 `json:"lost_packets"`

	ConvergeAfterChange time.Duration `json:"convergence_after_change_ns"`
	FetchesPerChange    uint64        `json:"fetches_per_change"`
	ConvergeAfterHeal   time.Duration `json:"convergence_after_heal_ns"`

	TraceHash uint64 `json:"trace_hash"`
	Failure   string `json:"failure,omitempty"`
	Replay    string `json:"replay"`
	Script    string `json:"-"`
}

// Bounds the liveness phase must meet: routing converges within 3 beacon
// intervals of a subscription change, and within 3 intervals plus the
// fetch timeout of healing.
const (
	changeBound = 3 * time.Second
	healBound   = 3*time.Second + 2*time.Second
)

type swarm struct {
	o       SwarmOptions
	w       *World
	rng     *rand.Rand
	topics  []string
	subs    int
	inboxes []int // nodes (from 0) with a subscriber to their own inbox
	rec     *recorder
	start   time.Time
	liveIDs map[string]string
}

// Swarm runs a randomized world: warm up, a safety phase with faults on
// and safety checked throughout, then heal and a liveness phase that must
// converge within bounds and deliver everything. A checker failure is
// reported in Summary.Failure with the command that replays it.
func Swarm(o SwarmOptions, clock func() time.Time) (*Summary, error) {
	return swarmDebug(o, nil)
}

func swarmDebug(o SwarmOptions, out **World) (*Summary, error) {
	clock := time.Now
	if o.Topics == 0 {
		o.Topics = 8
	}
	if o.Rate == 0 {
		o.Rate = 50
	}
	if o.FaultsText == "" {
		o.FaultsText = o.Faults.String()
	}
	wo := Options{Nodes: o.Nodes + o.Intruders, Seed: o.Seed, Net: DefaultNet(), Trace: o.Trace, Invariants: o.Invariants}
	if o.Intruders > 0 {
		wo.Keys = func(i int) []string {
			switch {
			case i < o.Nodes:
				return []string{"k"}
			case i%2 == 0:
				return []string{"x"}
			}
			return nil
		}
	}
	w, err := New(wo)
	if err != nil {
		return nil, err
	}
	if out != nil {
		*out = w
	}
	s := &swarm{o: o, w: w, rng: derive(o.Seed, "workload", 0), start: clock()}
	for i := range o.Topics {
		s.topics = append(s.topics, fmt.Sprintf("t/%d", i))
	}
	if o.Record {
		s.rec = &recorder{}
		s.rec.line(0, worldLine(o))
	}
	sum := &Summary{Nodes: o.Nodes, Seed: o.Seed, Faults: o.FaultsText,
		Replay: fmt.Sprintf("nexusd-sim swarm --nodes %d --seed %d --duration %s --faults '%s' --topics %d --rate %g",
			o.Nodes, o.Seed, o.Duration, o.FaultsText, o.Topics, o.Rate)}
	if o.Intruders > 0 {
		sum.Replay += fmt.Sprintf(" --intruders %d", o.Intruders)
	}
	if o.Groups > 0 {
		sum.Replay += fmt.Sprintf(" --groups %d", o.Groups)
	}
	failure := s.run(sum)
	if v := w.Violations(""); len(v) > 0 {
		// A broken safety property is the failure, whatever came after it.
		failure = fmt.Sprintf("%s (%d violations in all)", v[0], len(v))
	}
	sum.Failure = failure
	lc := w.Losses()
	sum.SilentLosses, sum.NeedlessLosses, sum.PhantomLosses, sum.Duplicates, sum.OrderViolations = lc.Silent, lc.Needless, lc.Phantom, lc.Duplicates, lc.Order
	st := w.Stats()
	sum.VirtualTime, sum.WallTime, sum.Events = w.now, clock().Sub(s.start), w.Events()
	sum.Published, sum.Crashes, sum.Partitions, sum.Pauses, sum.LostPackets = st.Published, st.Crashes, st.Partitions, st.Pauses, st.Lost+st.BeaconsLost
	sum.Leaves, sum.InRuns = st.Leaves, st.InRuns
	for _, sn := range w.nodes {
		c := sn.node.Status().Counters
		sum.Delivered += c.DeliveredLocal
		sum.Dropped += c.Dropped
		sum.Expired += c.Expired
		sum.Gaps += c.GapMessages
		sum.Repaired += c.Repaired
	}
	sum.TraceHash = w.TraceHash()
	if s.rec != nil {
		// The safety checks the run made, so a replayed failure fails in
		// the script too; liveness shows in converged.
		s.rec.line(w.now, "# the run ends here; what it checked:")
		for _, c := range []string{"order", "no-dups", "no-loss", "bounds", "invariants", "converged"} {
			s.rec.line(w.now, "check "+c)
		}
		for k := range o.Groups {
			s.rec.line(w.now, "check group="+groupName(k))
		}
		sum.Script = s.rec.String()
	}
	return sum, nil
}

func (s *swarm) run(sum *Summary) string {
	w := s.w
	w.Start()
	// Warm up: a few subscribers, converge.
	nsubs := min(w.Size(), 20)
	for _, i := range s.rng.Perm(w.Size())[:nsubs] {
		for range 1 + s.rng.IntN(2) {
			s.subscribe(i + 1)
		}
	}
	s.inboxes = s.rng.Perm(w.Size())[:min(w.Size(), swarmInboxes)]
	for _, i := range s.inboxes {
		s.subscribeTo(i+1, []string{state.InboxPrefix + w.nodes[i].id + "/#"}, false)
	}
	s.joinGroups()
	if !s.runUntil(10*time.Second, 100*time.Millisecond, func() bool { ok, _ := w.Converged(); return ok }) {
		_, why := w.Converged()
		return "warm-up did not converge: " + why
	}

	// Safety phase: faults on, workload running, safety checked on every
	// delivery and bounds every second.
	if err := w.SetNet(s.o.Faults.Net); err != nil {
		return err.Error()
	}
	s.record(fmt.Sprintf("net loss=%g dup=%g reorder=%g mcast-loss=%g delay=%s..%s", s.o.Faults.Net.Loss, s.o.Faults.Net.Dup,
		s.o.Faults.Net.Reorder, s.o.Faults.Net.McastLoss, s.o.Faults.Net.DelayMin, s.o.Faults.Net.DelayMin+2*s.o.Faults.Net.DelayMean))
	end := w.now + s.o.Duration
	s.planFaults(w.now, end)
	s.planWorkload(w.now, end)
	for w.now < end {
		if err := w.Run(min(w.now+5*time.Second, end)); err != nil {
			return err.Error()
		}
		if v := w.CheckCaps(); len(v) > 0 {
			return "bounds: " + v[0]
		}
	}

	// Heal: quiet network, no partition, every node up and awake, every
	// consumer fast. Routing must converge within healBound.
	healAt := w.now
	s.heal()
	if !s.runUntil(3*healBound, 50*time.Millisecond, func() bool { ok, _ := w.Converged(); return ok }) {
		_, why := w.Converged()
		return fmt.Sprintf("liveness: not converged %s after healing: %s", fmtDur(3*healBound), why)
	}
	sum.ConvergeAfterHeal = w.now - healAt
	if sum.ConvergeAfterHeal > healBound {
		return fmt.Sprintf("liveness: converged %s after healing, bound %s", fmtDur(sum.ConvergeAfterHeal), fmtDur(healBound))
	}
	if _, ok := w.Stabilize(30 * time.Second); !ok {
		_, why := w.Quiet()
		return "liveness: not quiet 30s after healing: " + why
	}

	// One subscription change: every node learns it within changeBound,
	// with at most one fetch per other node.
	fetches := s.totalFetches()
	i := 1 + s.rng.IntN(w.Size())
	name := s.subscribeTo(i, []string{"change/" + w.nodes[i-1].name}, false) // a pattern new to the node: its hash changes
	changedAt := w.now
	if !s.runUntil(3*changeBound, 5*time.Millisecond, func() bool { return w.convergedOn(w.nodes[i-1]) }) {
		return fmt.Sprintf("liveness: %s's new subscription %s not known everywhere after %s", w.nodes[i-1].name, name, fmtDur(3*changeBound))
	}
	sum.ConvergeAfterChange = w.now - changedAt
	sum.FetchesPerChange = s.totalFetches() - fetches
	if sum.ConvergeAfterChange > changeBound {
		return fmt.Sprintf("liveness: a subscription change took %s to converge, bound %s", fmtDur(sum.ConvergeAfterChange), fmtDur(changeBound))
	}
	if sum.FetchesPerChange > uint64(w.Size()-1) {
		return fmt.Sprintf("liveness: one subscription change caused %d fetches, more than %d", sum.FetchesPerChange, w.Size()-1)
	}
	if _, ok := w.Stabilize(30 * time.Second); !ok {
		_, why := w.Quiet()
		return "liveness: not quiet after the change: " + why
	}
	return s.deliverRound()
}

// deliverRound publishes a message on every topic from several nodes and
// requires every attached subscriber to get each one meant for it, once,
// with no gap declared anywhere. A flush round first brings to light what
// the faults left behind (a hole shows only when a later message arrives),
// so the round itself starts clean.
func (s *swarm) deliverRound() string {
	w := s.w
	for _, sn := range w.upNodes() {
		for _, t := range sn.node.NumberedTopics() {
			s.publish(sn.idx+1, t, false, 0, nil)
		}
	}
	if _, ok := w.Stabilize(30 * time.Second); !ok {
		_, why := w.Quiet()
		return "liveness: not quiet after the flush round: " + why
	}
	gapsBefore := s.totalGaps()
	lostBefore := map[string]uint64{}
	for _, sn := range w.upNodes() {
		for _, t := range sn.node.NumberedTopics() {
			lostBefore[sn.name+" "+t] = sn.node.TopicLost(t)
		}
	}
	s.liveIDs = map[string]string{}
	for _, c := range w.clients {
		c.liveGot = map[string]bool{}
	}
	origin := map[string]*simNode{}
	sources := s.rng.Perm(w.Size())[:min(w.Size(), 5)]
	for _, t := range s.topics {
		for _, i := range sources {
			src := w.nodes[i]
			s.publish(i+1, t, false, 0, func(e *state.CompletePublish) {
				if e.Err == nil {
					s.liveIDs[e.Result.MessageID] = t
					origin[e.Result.MessageID] = src
				}
			})
		}
	}
	if _, ok := w.Stabilize(30 * time.Second); !ok {
		_, why := w.Quiet()
		return "liveness: not quiet after the delivery round: " + why
	}
	for _, c := range w.sortedClients() {
		if c.ended || c.paused || !c.node.up || c.group != "" {
			continue // a group member gets a share: checkGroups judges it
		}
		want := 0
		var missing []string
		for _, id := range slices.Sorted(maps.Keys(s.liveIDs)) {
			src := origin[id]
			if t := s.liveIDs[id]; matchesAny(c.patterns, t) && (src == c.node || takes(c.node, src) && takes(src, c.node)) {
				want++
				if !c.liveGot[id] {
					missing = append(missing, t+" from "+src.name)
				}
			}
		}
		if len(missing) > 0 {
			return fmt.Sprintf("liveness: %s on %s (%s) missed %d of the %d messages published for it after healing: %s",
				c.name, c.node.name, strings.Join(c.patterns, ","), len(missing), want, strings.Join(missing, ", "))
		}
	}
	if g := s.totalGaps() - gapsBefore; g > 0 {
		where := ""
		for _, sn := range w.upNodes() {
			for _, t := range sn.node.NumberedTopics() {
				if l := sn.node.TopicLost(t) - lostBefore[sn.name+" "+t]; l > 0 {
					where += fmt.Sprintf(" %s/%s:%d", sn.name, t, l)
				}
			}
		}
		return fmt.Sprintf("liveness: %d messages declared lost with no fault:%s", g, where)
	}
	if ok, why := w.RetainedAgree(); !ok {
		return "liveness: retained values differ: " + why
	}
	if v := w.CheckCaps(); len(v) > 0 {
		return "bounds: " + v[0]
	}
	if v := w.CheckAccounting(); len(v) > 0 {
		return "loss: " + v[0]
	}
	w.CheckSilentLoss() // recorded as violations
	w.CheckInvariants() // likewise
	return s.checkGroups()
}

func (s *swarm) totalFetches() (n uint64) {
	for _, sn := range s.w.nodes {
		n += sn.node.Status().Counters.FetchesStarted
	}
	return n
}

func (s *swarm) totalGaps() (n uint64) {
	for _, sn := range s.w.nodes {
		n += sn.node.Status().Counters.GapMessages
	}
	return n
}

// runUntil runs in steps until cond holds, at most limit.
func (s *swarm) runUntil(limit, step time.Duration, cond func() bool) bool {
	end := s.w.now + limit
	for !cond() {
		if s.w.now >= end || s.w.Run(s.w.now+step) != nil {
			return false
		}
	}
	return true
}

func (s *swarm) pattern() string {
	t := s.rng.IntN(len(s.topics))
	switch s.rng.IntN(6) {
	case 0:
		return "t/+"
	case 1:
		return "t/#"
	}
	return s.topics[t]
}

func (s *swarm) subscribe(i int) string {
	pats := []string{s.pattern()}
	if s.rng.IntN(4) == 0 {
		pats = append(pats, s.pattern())
	}
	return s.subscribeTo(i, pats, s.rng.IntN(3) == 0)
}

func (s *swarm) subscribeTo(i int, pats []string, retained bool) string {
	s.subs++
	name := fmt.Sprintf("s%d", s.subs)
	if !s.w.nodes[i-1].up {
		return name
	}
	policy := swarmPolicy(s.subs)
	byNumber := s.subs%2 == 0 // half are packed subscribers, whose streams take runs
	if err := s.w.Subscribe(i, name, pats, SubOptions{Retained: retained, Policy: policy, ResumeWindow: swarmResumeWindow, ByNumber: byNumber}); err == nil {
		line := fmt.Sprintf("subscribe node=%d sub=%s resume-window=%s", i, name, swarmResumeWindow)
		for _, p := range pats {
			line += " topic=" + p
		}
		if retained {
			line += " retained"
		}
		if policy != state.PolicyDefault {
			line += " policy=" + policy.String()
		}
		if byNumber {
			line += " by-number"
		}
		s.record(s.w.showIDs(line))
	}
	return name
}

// swarmPolicy is the backpressure policy of the swarm's k-th subscription:
// most take the node's (drop-oldest), one in eight drops the newest and
// one in eight blocks its node's publishers (§7.2), so a slow one holds
// them back. It follows from k alone, not the seed's random draws.
func swarmPolicy(k int) state.Policy {
	switch k % 8 {
	case 3:
		return state.DropNewest
	case 6:
		return state.Block
	}
	return state.PolicyDefault
}

func (s *swarm) publish(i int, topic string, retain bool, ttl time.Duration, done func(*state.CompletePublish)) {
	if !s.w.nodes[i-1].up {
		return
	}
	payload := fmt.Sprintf("%s@%s", topic, fmtDur(s.w.now))
	if s.w.Publish(i, topic, []byte(payload), PublishOptions{Retain: retain, TTL: ttl}, done) == nil {
		line := fmt.Sprintf("publish node=%d topic=%s payload=%s", i, topic, payload)
		if retain {
			line += " retain"
		}
		if ttl > 0 {
			line += " ttl=" + ttl.String()
		}
		s.record(line)
	}
}

// swarmInboxes is how many nodes have a subscriber to their own inbox
// (_inbox/<instance>/#, as a requester's): the swarm's request/reply
// traffic, pushed straight to the daemon it names (docs/protocol.md §4.6).
const swarmInboxes = 5

// publishInbox publishes from node i to node j's inbox (j from 0), by the
// instance j runs now: a reply, pushed straight to j, held for no one else.
func (s *swarm) publishInbox(i, j int) {
	if !s.w.nodes[i-1].up {
		return
	}
	to := s.w.nodes[j]
	payload := fmt.Sprintf("to-%s@%s", to.name, fmtDur(s.w.now))
	if s.w.Publish(i, state.InboxPrefix+to.id+"/r", []byte(payload), PublishOptions{}, nil) == nil {
		s.record(fmt.Sprintf("publish node=%d topic=%s{%s}/r payload=%s", i, state.InboxPrefix, to.name, payload))
	}
}

// publishBatch publishes n messages to topic in one frame; their payloads
// are those a script's publish n= gives (TEXT-1..TEXT-n).
func (s *swarm) publishBatch(i int, topic string, n int, ttl time.Duration) {
	if !s.w.nodes[i-1].up {
		return
	}
	base := fmt.Sprintf("%s@%s", topic, fmtDur(s.w.now))
	payloads := make([][]byte, n)
	for j := range payloads {
		payloads[j] = fmt.Appendf(nil, "%s-%d", base, j+1)
	}
	if s.w.PublishBatch(i, topic, payloads, PublishOptions{TTL: ttl}, nil) == nil {
		line := fmt.Sprintf("publish node=%d topic=%s payload=%s n=%d batch", i, topic, base, n)
		if ttl > 0 {
			line += " ttl=" + ttl.String()
		}
		s.record(line)
	}
}

// planWorkload schedules publishes and subscription churn in [from, to).
func (s *swarm) planWorkload(from, to time.Duration) {
	w := s.w
	gap := time.Duration(float64(time.Second) / s.o.Rate)
	for t := from + gap; t < to; t += gap {
		i := 1 + s.rng.IntN(w.Size())
		if s.rng.IntN(16) == 0 {
			j := s.rng.IntN(w.Size()) // mostly one with a subscriber to its inbox
			if k := s.rng.IntN(4 * len(s.inboxes)); k < 3*len(s.inboxes) {
				j = s.inboxes[k%len(s.inboxes)]
			}
			w.at(t, func() { s.publishInbox(i, j) })
			continue
		}
		topic := s.topics[s.rng.IntN(len(s.topics))]
		retain := s.rng.IntN(20) == 0
		var ttl time.Duration
		if s.rng.IntN(20) == 0 {
			ttl = time.Duration(100+s.rng.IntN(3000)) * time.Millisecond
		}
		if !retain && s.rng.IntN(10) == 0 {
			// A frame of them, as a packed publisher sends (World.PublishBatch).
			n := 2 + s.rng.IntN(63)
			w.at(t, func() { s.publishBatch(i, topic, n, ttl) })
			continue
		}
		w.at(t, func() { s.publish(i, topic, retain, ttl, nil) })
	}
	for t := from + 2*time.Second; t < to; t += 2 * time.Second {
		i := 1 + s.rng.IntN(w.Size())
		drop := s.rng.IntN(2) == 0
		pick := s.rng.Uint64()
		w.at(t, func() {
			if !drop {
				s.subscribe(i)
				return
			}
			live := s.liveClients()
			if len(live) == 0 {
				return
			}
			c := live[pick%uint64(len(live))]
			if w.Unsubscribe(c.name, false) == nil {
				s.record(fmt.Sprintf("unsubscribe node=%d sub=%s", c.node.idx+1, c.name))
			}
		})
	}
}

// pickLive picks one live subscription by pick, drawn when the fault was
// planned; nil when there is none.
func (s *swarm) pickLive(pick uint64) *client {
	live := s.liveClients()
	if len(live) == 0 {
		return nil
	}
	return live[pick%uint64(len(live))]
}

func (s *swarm) liveClients() []*client {
	var out []*client
	for _, c := range s.w.sortedClients() {
		if !c.ended && !c.paused && c.node.up && c.group == "" {
			out = append(out, c)
		}
	}
	return out
}

// planFaults schedules the plan's discrete faults at random times in
// [from, to), each over by the time the safety phase ends but the last
// partition, which the heal ends.
func (s *swarm) planFaults(from, to time.Duration) {
	w, f := s.w, s.o.Faults
	n := w.Size()
	when := func(maxLen time.Duration) (time.Duration, time.Duration) {
		length := time.Second + time.Duration(s.rng.Int64N(int64(maxLen-time.Second)))
		span := to - from - length
		if span <= 0 {
			return from, to - from
		}
		return from + time.Duration(s.rng.Int64N(int64(span))), length
	}
	if n < 2 {
		return
	}
	for k := range f.Partitions {
		at, d := when(8 * time.Second)
		last := k == f.Partitions-1
		if last {
			// The last partition is still on when the safety phase ends and
			// the heal ends it, long enough for each side to have declared
			// the other dead: what follows times a real partition's heal.
			at = max(from, to-8*time.Second)
		}
		perm := s.rng.Perm(n)
		cut := 1 + s.rng.IntN(n-1)
		var a, b []int
		for k, i := range perm {
			if k < cut {
				a = append(a, i+1)
			} else {
				b = append(b, i+1)
			}
		}
		w.at(at, func() {
			w.Partition([][]int{a, b})
			s.record("partition " + groupText(a) + "|" + groupText(b))
		})
		if !last {
			w.at(at+d, func() { w.Heal(); s.record("heal") })
		}
	}
	for range f.Cuts {
		at, d := when(8 * time.Second)
		i, j := 1+s.rng.IntN(n), 1+s.rng.IntN(n)
		if i == j {
			continue
		}
		w.at(at, func() { w.Cut(i, j); s.record(fmt.Sprintf("cut from=%d to=%d", i, j)) })
		w.at(at+d, func() { w.Heal(); s.record("heal") })
	}
	for range f.Isolations {
		at, d := when(8 * time.Second)
		i := 1 + s.rng.IntN(n)
		w.at(at, func() { w.Isolate(i); s.record(fmt.Sprintf("isolate node=%d", i)) })
		w.at(at+d, func() { w.Heal(); s.record("heal") })
	}
	for range f.Crashes {
		at, d := when(6 * time.Second)
		s.stopThenRestart(1+s.rng.IntN(n), at, d, "crash", w.Crash)
	}
	for range f.Pauses {
		at, d := when(7 * time.Second)
		i := 1 + s.rng.IntN(n)
		w.at(at, func() { w.Pause(i, d); w.stats.Pauses++; s.record(fmt.Sprintf("pause node=%d for=%s", i, d)) })
	}
	for range f.ClockJumps {
		at, _ := when(2 * time.Second)
		i := 1 + s.rng.IntN(n)
		jump := time.Duration(s.rng.Int64N(int64(2*time.Hour))) - time.Hour
		w.at(at, func() {
			w.JumpClock(i, jump)
			w.stats.ClockJumps++
			s.record(fmt.Sprintf("clock node=%d jump=%s", i, jump))
		})
	}
	for range f.Reconnects {
		at, _ := when(2 * time.Second)
		away := time.Duration(100+s.rng.IntN(4900)) * time.Millisecond
		pick := s.rng.Uint64()
		w.at(at, func() {
			c := s.pickLive(pick)
			if c != nil && w.Reconnect(c.name, away) == nil {
				s.record(fmt.Sprintf("reconnect sub=%s after=%s", c.name, away))
			}
		})
	}
	for range f.Slow {
		at, d := when(8 * time.Second)
		rate := float64(5 + s.rng.IntN(46))
		pick := s.rng.Uint64()
		w.at(at, func() {
			c := s.pickLive(pick)
			if c == nil {
				return
			}
			w.SetRate(c.name, rate)
			s.record(fmt.Sprintf("slow node=%d sub=%s rate=%g/s", c.node.idx+1, c.name, rate))
			w.at(w.now+d, func() {
				w.SetRate(c.name, 0)
				s.record(fmt.Sprintf("slow node=%d sub=%s rate=0/s", c.node.idx+1, c.name))
			})
		})
	}
	// Last, so that adding them left every earlier fault's draws as they were.
	for range f.Leaves {
		at, d := when(6 * time.Second)
		s.stopThenRestart(1+s.rng.IntN(n), at, d, "leave", w.Leave)
	}
}

// stopThenRestart stops node i at at (by stop, recorded as the script
// command verb), if it is up then, and restarts it d later if it is down.
func (s *swarm) stopThenRestart(i int, at, d time.Duration, verb string, stop func(int)) {
	w := s.w
	w.at(at, func() {
		if w.Up(i) {
			stop(i)
			s.record(fmt.Sprintf("%s node=%d", verb, i))
		}
	})
	w.at(at+d, func() {
		if !w.Up(i) {
			w.Restart(i)
			s.record(fmt.Sprintf("restart node=%d", i))
		}
	})
}

// swarmResumeWindow is what the swarm's subscribers ask of their nodes,
// as the Go client does.
const swarmResumeWindow = time.Minute

// heal ends every fault at once.
func (s *swarm) heal() {
	w := s.w
	w.SetNet(DefaultNet())
	w.Heal()
	s.record("net loss=0 dup=0 reorder=0 mcast-loss=0 delay=200us..800us")
	s.record("heal")
	for _, sn := range w.nodes {
		if !sn.up {
			w.Restart(sn.idx + 1)
			s.record(fmt.Sprintf("restart node=%d", sn.idx+1))
		}
		if sn.up && w.now < sn.pausedUntil {
			w.Wake(sn.idx + 1)
			s.record(fmt.Sprintf("wake node=%d", sn.idx+1))
		}
	}
	for _, c := range w.sortedClients() {
		if c.rate > 0 {
			w.SetRate(c.name, 0)
			s.record(fmt.Sprintf("slow node=%d sub=%s rate=0/s", c.node.idx+1, c.name))
		}
	}
}

func (s *swarm) record(line string) {
	if s.rec != nil {
		s.rec.line(s.w.now, line)
	}
}

func groupText(g []int) string {
	var parts []string
	for _, i := range g {
		parts = append(parts, fmt.Sprint(i))
	}
	return strings.Join(parts, ",")
}

// recorder writes a run out as a scenario script.
type recorder struct {
	b    strings.Builder
	last time.Duration
}

func (r *recorder) line(at time.Duration, cmd string) {
	if at > r.last {
		fmt.Fprintf(&r.b, "run for=%s\n", at-r.last)
		r.last = at
	}
	r.b.WriteString(cmd + "\n")
}

func (r *recorder) String() string { return r.b.String() }

// worldLine is the scenario line that builds the swarm's world.
func worldLine(o SwarmOptions) string {
	line := fmt.Sprintf("world nodes=%d seed=%d", o.Nodes+o.Intruders, o.Seed)
	if o.Intruders > 0 {
		keys := make([]string, o.Nodes+o.Intruders)
		for i := range keys {
			switch {
			case i < o.Nodes:
				keys[i] = "k"
			case i%2 == 0:
				keys[i] = "x"
			default:
				keys[i] = "-"
			}
		}
		line += " keys=" + strings.Join(keys, ",")
	}
	return line
}
