package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nexusd/nexusd/state"
)

// Checkers. Safety checks run on every delivery (order, duplicates) and
// whenever asked (caps, accounting); liveness checks (convergence) are
// asked for after faults heal.

type checker struct {
	formerNames map[string]string
	violations  []violation
	stopOnFirst bool
}

type violation struct {
	kind, msg string
	n         uint64 // messages it is about (loss kinds); 1 otherwise
}

func (c *checker) init() { c.formerNames = map[string]string{} }

// violate records a broken safety property.
func (w *World) violate(kind, msg string) { w.violateN(kind, 1, msg) }

// violateN records a broken safety property about n messages.
func (w *World) violateN(kind string, n uint64, msg string) {
	w.checks.violations = append(w.checks.violations, violation{kind, fmt.Sprintf("%s: %s", w.clock(), msg), n})
	if w.checks.stopOnFirst && w.stopErr == nil {
		w.stopErr = fmt.Errorf("%s violated at %s", kind, msg)
	}
}

// Violations lists the broken safety properties of a kind ("" for all).
func (w *World) Violations(kind string) []string {
	var out []string
	for _, v := range w.checks.violations {
		if kind == "" || v.kind == kind {
			out = append(out, v.kind+": "+v.msg)
		}
	}
	return out
}

// upNodes lists the running nodes.
func (w *World) upNodes() []*simNode {
	var out []*simNode
	for _, sn := range w.nodes {
		if sn.up {
			out = append(out, sn)
		}
	}
	return out
}

// Converged reports whether every running node knows every other running
// node it takes as a peer (of its cluster, and a member to it: keys.go)
// and holds exactly its current patterns (its synced
// hash equals the other's own hash). The message names the first pair
// that disagrees.
func (w *World) Converged() (bool, string) {
	up := w.upNodes()
	for _, a := range up {
		peers := 0
		for _, b := range up {
			if a == b || !takes(a, b) {
				continue
			}
			peers++
			if ok, why := viewOf(a, b); !ok {
				return false, why
			}
		}
		// Knowing every live peer, it may know no one else: no peer that
		// is gone lingers.
		if n := a.node.PeerCount(); n != peers {
			return false, fmt.Sprintf("%s lists %d peers, but %d are running", a.name, n, peers)
		}
	}
	return true, ""
}

// viewOf checks a's view of b: it knows b and holds b's current patterns.
func viewOf(a, b *simNode) (bool, string) {
	h, ok := a.node.SyncedHash(b.id)
	switch {
	case !ok && !a.node.KnowsPeer(b.id):
		return false, fmt.Sprintf("%s does not know %s", a.name, b.name)
	case !ok:
		return false, fmt.Sprintf("%s has not fetched %s's state", a.name, b.name)
	case h != b.node.Hash():
		return false, fmt.Sprintf("%s holds a stale view of %s (hash %016x, %s has %016x)", a.name, b.name, h, b.name, b.node.Hash())
	}
	return true, ""
}

// convergedOn reports whether every running node that takes b as a peer
// holds b's current patterns: the cheap check after one node's
// subscriptions change.
func (w *World) convergedOn(b *simNode) bool {
	for _, a := range w.nodes {
		if a != b && a.up && takes(a, b) {
			if ok, _ := viewOf(a, b); !ok {
				return false
			}
		}
	}
	return true
}

func (w *World) isLive(id string) bool {
	for _, sn := range w.nodes {
		if sn.id == id {
			return sn.up
		}
	}
	return false
}

// RetainedAgree reports whether every running node holds the same
// retained values as the first running node of its mesh (of its cluster,
// and a member to it both ways: keys.go). Values with a TTL are left out:
// each node judges expiry by its own wall clock, so under clock skew they
// may rightly differ for a while; which value wins never does.
func (w *World) RetainedAgree() (bool, string) {
	up := w.upNodes()
	var firsts []*simNode // the first node of each mesh seen
	keys := map[*simNode]string{}
	for _, sn := range up {
		got := retainedKey(sn)
		keys[sn] = got
		i := slices.IndexFunc(firsts, func(f *simNode) bool { return takes(f, sn) && takes(sn, f) })
		if i < 0 {
			firsts = append(firsts, sn)
			continue
		}
		if want := keys[firsts[i]]; got != want {
			return false, fmt.Sprintf("%s holds [%s] but %s holds [%s]", firsts[i].name, want, sn.name, got)
		}
	}
	return true, ""
}

func retainedKey(sn *simNode) string {
	var parts []string
	for _, e := range sn.node.RetainedValues() {
		if e.TTLMs == 0 {
			parts = append(parts, fmt.Sprintf("%s=%q", e.Topic, e.Payload))
		}
	}
	return strings.Join(parts, " ")
}

// CheckCaps verifies every running node stays within its configured
// bounds: queues, rings, held messages, backlogs.
func (w *World) CheckCaps() []string {
	var out []string
	for _, sn := range w.upNodes() {
		st := sn.node.Status()
		cfg := sn.node.Config()
		subs := sn.node.Subscriptions()
		queueCap := 0
		biggest := cfg.MaxPayloadBytes + 2*cfg.MaxTopicBytes + 2048 // one message over a cap is let in
		for _, s := range subs {
			queueCap += s.Limit + cfg.BlockedLimit
			if s.Queued > s.Limit+cfg.BlockedLimit {
				out = append(out, fmt.Sprintf("%s: subscription %s queues %d, limit %d", sn.name, s.ClientID, s.Queued, s.Limit))
			}
		}
		mem := st.Memory
		switch {
		case mem.Total > mem.Budget && mem.Ring+mem.Departed+mem.Queues > 0:
			out = append(out, fmt.Sprintf("%s: holds %d bytes, budget %d, with %d it could shed", sn.name, mem.Total, mem.Budget, mem.Ring+mem.Departed+mem.Queues))
		case mem.Queues > len(subs)*(cfg.QueueBytes+biggest):
			out = append(out, fmt.Sprintf("%s: queues hold %d bytes, %d subscriptions of %d", sn.name, mem.Queues, len(subs), cfg.QueueBytes))
		case mem.Backlogs > (st.PeersAlive+st.PeersSuspected)*(cfg.PeerBacklogBytes+biggest):
			out = append(out, fmt.Sprintf("%s: peer backlogs hold %d bytes", sn.name, mem.Backlogs))
		case mem.Held > cfg.HeldBytes:
			out = append(out, fmt.Sprintf("%s: %d bytes held behind holes, cap %d", sn.name, mem.Held, cfg.HeldBytes))
		case st.BufferedBytes > cfg.RingBytes:
			out = append(out, fmt.Sprintf("%s: rings hold %d bytes, cap %d", sn.name, st.BufferedBytes, cfg.RingBytes))
		case st.BufferedMsgs > st.Topics*cfg.MessageBufferSize:
			out = append(out, fmt.Sprintf("%s: rings hold %d messages for %d topics, cap %d each", sn.name, st.BufferedMsgs, st.Topics, cfg.MessageBufferSize))
		case st.Held > st.Streams*(cfg.RepairHoldLimit+1):
			out = append(out, fmt.Sprintf("%s: %d messages held behind holes", sn.name, st.Held))
		case st.BacklogMsgs > (st.PeersAlive+st.PeersSuspected)*cfg.PeerBacklogLimit:
			out = append(out, fmt.Sprintf("%s: %d messages in peer backlogs", sn.name, st.BacklogMsgs))
		case st.QueuedMsgs > queueCap:
			out = append(out, fmt.Sprintf("%s: %d messages queued, caps total %d", sn.name, st.QueuedMsgs, queueCap))
		}
	}
	for _, o := range out {
		w.violate("bounds", o)
	}
	return out
}

// CheckAccounting verifies that nothing was lost without being reported:
//   - on every node, every (source, topic) numbering accounts for each
//     number it passed: delivered here, declared lost (which the node's
//     own numbering then skips, and its subscribers are warned of), or
//     skipped as never sent to this node;
//   - every subscription that stayed attached since it started was
//     offered everything its node numbered on its topics meanwhile, and
//     each was delivered to it, dropped or expired (both reported in
//     warnings and counters), or is still queued.
func (w *World) CheckAccounting() []string {
	var out []string
	for _, sn := range w.upNodes() {
		topics := sn.node.NumberedTopics()
		for _, src := range w.nodes {
			for _, id := range w.idsOf(src) {
				for _, t := range topics {
					si, ok := sn.node.Stream(id, t)
					if ok && si.Delivered+si.Lost+si.Skipped != si.Last-si.Base {
						out = append(out, fmt.Sprintf("%s: stream %s/%s passed %d numbers but delivered %d, declared %d lost and skipped %d as not sent to it",
							sn.name, w.nameOf(id), t, si.Last-si.Base, si.Delivered, si.Lost, si.Skipped))
					}
				}
			}
		}
	}
	for _, c := range w.sortedClients() {
		if c.ended || c.paused || len(c.infos) != 1 || !c.node.up || c.group != "" {
			continue // accounted only over one unbroken attachment; a group member's share by check group=
		}
		var st *subStatus
		for _, s := range c.node.node.Subscriptions() {
			if s.ID == c.subID {
				st = &subStatus{s.Queued, s.Dropped, s.Expired}
			}
		}
		if st == nil {
			continue
		}
		var offered uint64
		for _, t := range c.node.node.NumberedTopics() {
			if !matchesAny(c.patterns, t) {
				continue
			}
			numbered := c.node.node.TopicSeq(t) - c.startSeqs[t]
			lost := c.node.node.TopicLost(t) - c.startLost[t]
			offered += numbered - lost
		}
		got := c.live + st.dropped + st.expired + uint64(st.queued)
		if got != offered {
			out = append(out, fmt.Sprintf("%s on %s: %d messages numbered for it, but %d delivered + %d dropped + %d expired + %d queued = %d",
				c.name, c.node.name, offered, c.live, st.dropped, st.expired, st.queued, got))
		}
		if c.dropped > st.dropped || c.expired > st.expired {
			out = append(out, fmt.Sprintf("%s: warnings report more losses than the node counted", c.name))
		}
	}
	for _, o := range out {
		w.violate("loss", o)
	}
	return out
}

type subStatus struct {
	queued           int
	dropped, expired uint64
}

// idsOf lists every instance id a node has had.
func (w *World) idsOf(sn *simNode) []string {
	ids := []string{sn.id}
	for id, name := range w.checks.formerNames {
		if strings.HasPrefix(name, sn.name+"@") {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func matchesAny(patterns []string, topic string) bool {
	for _, p := range patterns {
		if stateMatch(p, topic) {
			return true
		}
	}
	return false
}

var stateMatch = state.Match

// leaverOf is the peer of sn that ev says is leaving (its leave beacon or
// its notice), if sn knows it: "" otherwise.
func leaverOf(sn *simNode, ev state.Event) string {
	id := ""
	switch e := ev.(type) {
	case *state.LeaveNoticed:
		id = e.Instance
	case *state.BeaconReceived:
		if e.Beacon.Leaving {
			id = e.Beacon.Instance
		}
	}
	if id == "" || !sn.node.KnowsPeer(id) {
		return ""
	}
	return id
}

// checkLeft remembers the peer sn just removed for leaving, and reports a
// beacon that took back an instance sn removed for leaving less than
// PeerTimeout ago: one that said it was stopping has stopped, so a beacon
// of its that lands later was sent before the leave (or replayed).
func (w *World) checkLeft(sn *simNode, ev state.Event, leaver string) {
	if leaver != "" && !sn.node.KnowsPeer(leaver) {
		sn.leftSeen[leaver] = w.now
	}
	b, ok := ev.(*state.BeaconReceived)
	if !ok || b.Beacon.Leaving {
		return
	}
	at, left := sn.leftSeen[b.Beacon.Instance]
	if left && w.now-at < sn.node.Config().PeerTimeout && sn.node.KnowsPeer(b.Beacon.Instance) {
		w.violate("resurrected", fmt.Sprintf("%s took back %s, %s after removing it for leaving", sn.name, w.nameOf(b.Beacon.Instance), fmtDur(w.now-at)))
	}
}
