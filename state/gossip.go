package state

import (
	"slices"
)

// Hash-triggered gossip. A peer is unsynced while we have never fetched
// its state, or while the hash of the state we last fetched differs from
// the hash its latest beacon carries. An unsynced peer is fetched, and
// fetched again, until they agree: never more than one fetch in flight per
// peer, one per FetchInterval per peer, MaxFetchesInFlight in all. A failed
// fetch leaves the peer unsynced, so it is retried, never forgotten.

func (p *peer) unsynced() bool { return !p.fetched || p.syncedHash != p.beaconHash }

func (n *Node) maybeFetch(p *peer) {
	if p.removed || p.fetchCall != 0 || p.fetchWaiting || !p.unsynced() {
		return
	}
	if p.everFetching && n.now.Mono < p.lastFetch+n.cfg.FetchInterval {
		n.arm(&p.fetchAlarm, p.lastFetch+n.cfg.FetchInterval, timer{kind: tFetch, peer: p})
		return
	}
	if n.fetchesInFlight >= n.cfg.MaxFetchesInFlight {
		p.fetchWaiting = true
		n.fetchWait.pushBack(p)
		return
	}
	p.everFetching = true
	p.lastFetch = n.now.Mono
	p.fetchCall = n.newCall(call{kind: callFetch, peer: p})
	n.fetchesInFlight++
	n.counters.FetchesStarted++
	n.emit(&FetchState{Call: p.fetchCall, Peer: p.id, Addr: p.addr})
}

func (n *Node) onFetchCompleted(e *FetchCompleted) {
	c, ok := n.takeCall(e.Call, callFetch)
	if !ok {
		return
	}
	p := c.peer
	p.fetchCall = 0
	n.fetchesInFlight--
	defer n.fetchSlotFreed()
	if p.removed {
		return
	}
	switch {
	case e.Err != nil || e.State == nil:
		n.counters.FetchesFailed++
	case e.State.Instance != p.id:
		// Another process answers at that address now; its own beacon
		// will introduce it.
		n.counters.FetchesFailed++
		n.reject(reasonStateMismatch)
	default:
		n.counters.FetchesOK++
		n.applyPeerState(p, e.State)
	}
	n.maybeFetch(p)
}

// fetchSlotFreed starts fetches that waited for a free slot, in the order
// they started waiting.
func (n *Node) fetchSlotFreed() {
	for n.fetchesInFlight < n.cfg.MaxFetchesInFlight && n.fetchWait.len() > 0 {
		p := n.fetchWait.popFront()
		p.fetchWaiting = false
		n.maybeFetch(p)
	}
}

// applyPeerState installs a fetched state: the peer's routes become exactly
// its valid patterns, and its retained values merge into ours.
func (n *Node) applyPeerState(p *peer, st *NodeState) {
	all := slices.Clone(st.Patterns)
	slices.Sort(all)
	all = slices.Compact(all)
	groups := slices.Clone(st.QueueGroups)
	slices.SortFunc(groups, cmpGroupMembers)
	p.fetched = true
	p.syncedHash = stateHash(all, groups)

	valid := all[:0:0]
	for _, pat := range all {
		if len(valid) >= n.cfg.MaxPatterns {
			n.reject(reasonPeerPatterns)
			break
		}
		if ValidatePattern(pat, n.cfg.MaxTopicBytes, n.cfg.MaxTopicLevels) != nil {
			n.reject(reasonBadPattern)
			continue
		}
		valid = append(valid, pat)
	}
	old := p.patterns
	for _, pat := range old {
		if _, found := slices.BinarySearch(valid, pat); !found {
			n.peerRoutes.remove(pat, p)
		}
	}
	for _, pat := range valid {
		if _, found := slices.BinarySearch(old, pat); !found {
			n.peerRoutes.add(pat, p)
		}
	}
	p.patterns = valid
	n.applyPeerGroups(p, groups)
	for i := range st.Retained {
		n.receiveRetained(&st.Retained[i])
	}
	n.reconcileRetained(p, st.Retained)
}

// reconcileRetained sends a peer every retained value (or clear) we hold
// that its state lacks or holds an older one of: values published while it
// could not hear them reach it this way, whichever side fetched the other.
func (n *Node) reconcileRetained(p *peer, theirs []Envelope) {
	have := make(map[string]*Envelope, len(theirs))
	for i := range theirs {
		have[theirs[i].Topic] = &theirs[i]
	}
	for _, env := range n.nodeState().Retained {
		if env.Source == p.id {
			continue
		}
		if t := have[env.Topic]; t == nil || newer(&env, t) {
			if m := n.retained.byTopic[env.Topic]; m != nil {
				n.counters.RetainedSynced++
				n.enqueuePush(p, outgoing{m: m, syncOnly: true})
			}
		}
	}
}

// Our own patterns: every distinct pattern of every subscription, active
// or paused, counted so that one leaving does not drop another's. A
// subscription's patterns come and go together, and the set's hash is
// computed once for all of them.

func (n *Node) addPatterns(pats []string, s *subscription) {
	if s.group != "" {
		// A member's patterns are advertised as its group's (groups.go),
		// not as ours: peers push it only what they choose it for.
		for _, pat := range pats {
			n.localRoutes.add(pat, s)
		}
		return
	}
	changed := false
	for _, pat := range pats {
		n.localRoutes.add(pat, s)
		n.patternRefs[pat]++
		changed = changed || n.patternRefs[pat] == 1
	}
	if changed {
		n.patternsChanged()
	}
}

func (n *Node) removePatterns(pats []string, s *subscription) {
	if s.group != "" {
		for _, pat := range pats {
			n.localRoutes.remove(pat, s)
		}
		return
	}
	changed := false
	for _, pat := range pats {
		n.localRoutes.remove(pat, s)
		n.patternRefs[pat]--
		if n.patternRefs[pat] <= 0 {
			delete(n.patternRefs, pat)
			changed = true
		}
	}
	if changed {
		n.patternsChanged()
	}
}

func (n *Node) patternsChanged() {
	n.patterns = nil
	n.state = nil
	h := stateHash(n.sortedPatterns(), n.groupEntries())
	if h != n.hash {
		n.hash = h
		n.beaconSoon()
	}
}

func (n *Node) sortedPatterns() []string {
	if n.patterns == nil {
		n.patterns = make([]string, 0, len(n.patternRefs))
		for p := range n.patternRefs {
			n.patterns = append(n.patterns, p)
		}
		slices.Sort(n.patterns)
	}
	return n.patterns
}

// nodeState is our answer to GetNodeState. It is built once per change and
// never modified after, so shells may keep it.
func (n *Node) nodeState() *NodeState {
	if n.state == nil {
		n.state = &NodeState{
			Instance: n.cfg.NodeID,
			Patterns: slices.Clone(n.sortedPatterns()),
			Hash:     n.hash,
			Retained: n.retained.snapshot(n.now.WallMs),
		}
		if g := n.groupEntries(); len(g) > 0 {
			n.state.QueueGroups = slices.Clone(g)
		}
	}
	return n.state
}
