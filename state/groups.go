package state

import (
	"fmt"
	"hash/crc64"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Queue groups. A subscription may name a group; among all live members
// of a group across the mesh whose patterns match a message, exactly one
// gets it. Membership rides gossip: each node advertises, per (pattern,
// group), how many live (not paused) members it holds, and its state hash
// covers those counts, so a change is fetched like a pattern change.
//
// The publishing node chooses, per group, one candidate: each of its own
// live members, and each peer weighted by its advertised count, in a
// sorted list walked round robin per group. A peer chosen gets the push
// (once, whatever number of groups and ordinary interest it is chosen
// for) naming the groups in Envelope.QueueGroups, and hands the message to
// one of its own live members of each, round robin too. Group members are
// not in the node's ordinary patterns: peers push a topic to a node for
// its groups only when they choose it.
//
// A member numbers what it receives by itself, per topic (gseq), so its
// sequence runs without gaps over its share. A mesh loss on a topic shows
// as a gap to every live member on the receiving node (which of them would
// have had it is unknown). A member replays nothing on resume: what was
// published while it was paused went to other members.

// MaxGroupBytes bounds a group's name.
const MaxGroupBytes = 128

// recvKey prefixes a group's round robin among our members for pushes
// from peers, apart from the one among candidates of our own publishes.
const recvKey = "\x00in\x00"

// maxGroupsPerPush bounds the groups one envelope may name.
const maxGroupsPerPush = 64

// GroupMembers is one advertised (pattern, group) and how many live members
// the advertising node holds for it (the mesh's QueueGroupMembers).
type GroupMembers struct {
	Pattern, Group string
	Members        uint32
}

type groupKey struct{ pattern, group string }

// groupState is the node's view of queue groups.
type groupState struct {
	local   map[groupKey]int // live local members per (pattern, group)
	entries []GroupMembers   // local, sorted; nil when stale
	remote  []remoteGroup    // every peer's valid entries, by group, peer, pattern
	next    map[string]uint64
}

type remoteGroup struct {
	GroupMembers
	p *peer
}

// groupPick records which groups a push of our own message to a peer was
// chosen for, so the push (and a resend of it) names them.
type groupPick struct {
	peer   *peer
	groups []string
}

// ValidateGroup checks a queue group's name: 1 to MaxGroupBytes bytes of
// UTF-8 with no control characters.
func ValidateGroup(g string) error {
	switch {
	case g == "" || len(g) > MaxGroupBytes:
		return errorf(Invalid, "queue_group is %d bytes: give 1 to %d", len(g), MaxGroupBytes)
	case !utf8.ValidString(g):
		return errorf(Invalid, "queue_group %q is not valid UTF-8", g)
	}
	for _, r := range g {
		if unicode.IsControl(r) {
			return errorf(Invalid, "queue_group %q holds a control character", g)
		}
	}
	return nil
}

func (g *groupState) init() {
	g.local = make(map[groupKey]int)
	g.next = make(map[string]uint64)
}

// any reports whether any group has a member here or on a peer.
func (g *groupState) any() bool { return len(g.local) > 0 || len(g.remote) > 0 }

// memberLive counts s, a group member, as live or not in what we advertise.
func (n *Node) memberLive(s *subscription, live bool) {
	if s.group == "" || s.live == live {
		return
	}
	s.live = live
	for _, pat := range s.patterns {
		k := groupKey{pat, s.group}
		if live {
			n.groups.local[k]++
		} else if n.groups.local[k]--; n.groups.local[k] <= 0 {
			delete(n.groups.local, k)
		}
	}
	n.groups.entries = nil
	n.pruneNext()
	n.patternsChanged()
}

// pruneNext forgets the round robin of groups with no member left here or
// on a peer, so names that come and go do not pile up.
func (n *Node) pruneNext() {
	for k := range n.groups.next {
		g := strings.TrimPrefix(k, recvKey)
		if !n.groups.has(g) {
			delete(n.groups.next, k)
		}
	}
}

// has reports whether g has a member here or on a peer.
func (g *groupState) has(name string) bool {
	for k := range g.local {
		if k.group == name {
			return true
		}
	}
	for _, e := range g.remote {
		if e.Group == name {
			return true
		}
	}
	return false
}

// groupEntries is what we advertise: live members per (pattern, group),
// sorted.
func (n *Node) groupEntries() []GroupMembers {
	g := &n.groups
	if g.entries == nil {
		g.entries = make([]GroupMembers, 0, len(g.local))
		for k, c := range g.local {
			g.entries = append(g.entries, GroupMembers{Pattern: k.pattern, Group: k.group, Members: uint32(c)})
		}
		slices.SortFunc(g.entries, cmpGroupMembers)
	}
	return g.entries
}

func cmpGroupMembers(a, b GroupMembers) int {
	if a.Pattern != b.Pattern {
		return strings.Compare(a.Pattern, b.Pattern)
	}
	return strings.Compare(a.Group, b.Group)
}

// stateHash is the topic-state hash of sorted patterns and group entries.
// With no groups it is the patterns' hash alone, as v1 computes it.
func stateHash(patterns []string, groups []GroupMembers) uint64 {
	h := hashSorted(patterns)
	for _, e := range groups {
		h = crc64.Update(h, crcTable, []byte("\x00group\x00"+e.Pattern+"\x00"+e.Group+"\x00"+strconv.FormatUint(uint64(e.Members), 10)+"\n"))
	}
	return h
}

// applyPeerGroups installs a peer's fetched group entries: the valid ones,
// within MaxPatterns.
func (n *Node) applyPeerGroups(p *peer, entries []GroupMembers) {
	var valid []GroupMembers
	for _, e := range entries {
		if len(valid) >= n.cfg.MaxPatterns {
			n.reject(reasonPeerPatterns)
			break
		}
		if e.Members == 0 || ValidateGroup(e.Group) != nil || ValidatePattern(e.Pattern, n.cfg.MaxTopicBytes, n.cfg.MaxTopicLevels) != nil {
			n.reject(reasonBadPattern)
			continue
		}
		valid = append(valid, e)
	}
	if len(valid) == 0 && len(p.groups) == 0 {
		return
	}
	p.groups = valid
	n.rebuildRemoteGroups()
}

// rebuildRemoteGroups gathers every live peer's entries, sorted by group,
// peer and pattern.
func (n *Node) rebuildRemoteGroups() {
	g := &n.groups
	g.remote = g.remote[:0]
	for _, p := range n.sortedPeers() {
		for _, e := range p.groups {
			g.remote = append(g.remote, remoteGroup{e, p})
		}
	}
	slices.SortStableFunc(g.remote, func(a, b remoteGroup) int {
		if c := strings.Compare(a.Group, b.Group); c != 0 {
			return c
		}
		if c := strings.Compare(a.p.id, b.p.id); c != 0 {
			return c
		}
		return strings.Compare(a.Pattern, b.Pattern)
	})
	if len(g.remote) == 0 {
		g.remote = nil
	}
	n.pruneNext()
}

// dropPeerGroups forgets a removed peer's entries.
func (n *Node) dropPeerGroups(p *peer) {
	if len(p.groups) > 0 {
		p.groups = nil
		n.rebuildRemoteGroups()
	}
}

// candidate is one choice for a group: a local member, or a peer weighted
// by the members it advertises.
type candidate struct {
	s      *subscription
	p      *peer
	weight uint64
}

// localMembers lists the live local members matching topic, by group and
// then subscription id.
func (n *Node) localMembers(topic string) []*subscription {
	if len(n.groups.local) == 0 {
		return nil
	}
	var out []*subscription
	n.mark++
	mark := n.mark
	n.localRoutes.match(topic, func(s *subscription) {
		if s.mark != mark && s.group != "" && s.live {
			s.mark = mark
			out = append(out, s)
		}
	})
	slices.SortFunc(out, func(a, b *subscription) int {
		if c := strings.Compare(a.group, b.group); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

// pickGroups chooses, for our own message m, one member of every group
// with a live member matching its topic: local ones get m now, peers are
// recorded in m.picks for route to push to.
func (n *Node) pickGroups(m *Message) {
	if !n.groups.any() {
		return
	}
	local := n.localMembers(m.Topic)
	remote := n.groups.remote
	for len(local) > 0 || len(remote) > 0 {
		g := ""
		switch {
		case len(local) == 0:
			g = remote[0].Group
		case len(remote) == 0:
			g = local[0].group
		default:
			g = min(local[0].group, remote[0].Group)
		}
		var cands []candidate
		for len(local) > 0 && local[0].group == g {
			cands = append(cands, candidate{s: local[0], weight: 1})
			local = local[1:]
		}
		nLocal := len(cands)
		for len(remote) > 0 && remote[0].Group == g {
			e := remote[0]
			remote = remote[1:]
			if !Match(e.Pattern, m.Topic) {
				continue
			}
			// One peer's entries may count the same member under several
			// patterns: the largest is the fewest it surely has.
			if k := len(cands) - 1; k >= nLocal && cands[k].p == e.p {
				cands[k].weight = max(cands[k].weight, uint64(e.Members))
				continue
			}
			cands = append(cands, candidate{p: e.p, weight: uint64(e.Members)})
		}
		if n.cfg.QueueGroupLocalFirst && nLocal > 0 {
			cands = cands[:nLocal]
		}
		if c, ok := n.choose(n.groups.next, g, cands); ok {
			if c.s != nil {
				n.enqueueMember(c.s, m)
			} else {
				m.addPick(c.p, g)
			}
		}
	}
}

// choose walks cands round robin by weight, per group.
func (n *Node) choose(next map[string]uint64, g string, cands []candidate) (candidate, bool) {
	var total uint64
	for _, c := range cands {
		total += c.weight
	}
	if total == 0 {
		return candidate{}, false
	}
	k := next[g] % total
	next[g]++
	for _, c := range cands {
		if k < c.weight {
			return c, true
		}
		k -= c.weight
	}
	return candidate{}, false
}

func (m *Message) addPick(p *peer, g string) {
	if m.picks == nil {
		m.picks = new([]groupPick) // out of line: most messages have none
	}
	picks := *m.picks
	for i := range picks {
		if picks[i].peer == p {
			picks[i].groups = append(picks[i].groups, g)
			return
		}
	}
	*m.picks = append(picks, groupPick{peer: p, groups: []string{g}})
}

// pickList is m's picks, none when nil.
func (m *Message) pickList() []groupPick {
	if m.picks == nil {
		return nil
	}
	return *m.picks
}

// groupsFor is the groups m, our own, was pushed to peer id for.
func (m *Message) groupsFor(id string) []string {
	if m.picks == nil {
		return nil
	}
	for _, pk := range *m.picks {
		if pk.peer.id == id {
			return pk.groups
		}
	}
	return nil
}

// deliverGroups hands a message from a peer to one live local member of
// each group the peer chose us for. A group with no live member here any
// more (it paused or left before the peer heard) does not get it.
func (n *Node) deliverGroups(m *Message) {
	local := n.localMembers(m.Topic)
	groups := m.QueueGroups()
	for i, g := range groups {
		if i >= maxGroupsPerPush || slices.Contains(groups[:i], g) {
			continue
		}
		var cands []candidate
		for _, s := range local {
			if s.group == g {
				cands = append(cands, candidate{s: s, weight: 1})
			}
		}
		if c, ok := n.choose(n.groups.next, recvKey+g, cands); ok {
			n.enqueueMember(c.s, m)
		} else {
			n.counters.Passed["group_no_member"]++
		}
	}
}

// enqueueMember offers m to a group member, numbered in the member's own
// sequence for the topic.
func (n *Node) enqueueMember(s *subscription, m *Message) {
	if s.gseq == nil {
		s.gseq = make(map[string]uint64)
	}
	s.gseq[m.Topic]++
	pin(m) // the copy shares its payload, which a slab used again would overwrite
	c := &Message{Envelope: m.Envelope, Seq: s.gseq[m.Topic], ExpiresMs: m.ExpiresMs}
	if len(c.QueueGroups()) > 0 {
		c.Edit().QueueGroups = nil
	}
	n.enqueue(s, c)
}

// memberLost makes a mesh loss on topic show in a member's numbering.
func (s *subscription) memberLost(topic string, missing uint64) {
	if s.group == "" {
		return
	}
	if s.gseq == nil {
		s.gseq = make(map[string]uint64)
	}
	s.gseq[topic] += min(missing, maxGapNumbers)
}

// checkGroups: what we advertise is what our live members add up to, and
// every remote entry belongs to a live peer that advertised it.
func (n *Node) checkGroups(bad badFunc) {
	want := make(map[groupKey]int)
	for _, s := range n.subs {
		live := s.group != "" && !s.paused && !s.removed && s.stream != 0
		if s.live != live {
			bad("subscription %s of group %q: counted live %v, is %v", short(s.id), s.group, s.live, live)
		}
		if s.live {
			for _, pat := range s.patterns {
				want[groupKey{pat, s.group}]++
			}
		}
	}
	if len(want) != len(n.groups.local) {
		bad("groups: %d (pattern, group) counted, members make %d", len(n.groups.local), len(want))
	}
	for k, c := range want {
		if n.groups.local[k] != c {
			bad("group %q on %q: counted %d live members, has %d", k.group, k.pattern, n.groups.local[k], c)
		}
	}
	if h := stateHash(n.sortedPatterns(), n.groupEntries()); h != n.hash {
		bad("state hash %x does not cover groups (%x)", n.hash, h)
	}
	count := 0
	for _, e := range n.groups.remote {
		if e.p.removed || n.peers.get(e.p.id) != e.p {
			bad("group %q: entry of removed peer %s", e.Group, short(e.p.id))
		}
		if e.Members == 0 {
			bad("group %q: peer %s advertises no members", e.Group, short(e.p.id))
		}
	}
	for _, p := range n.sortedPeers() {
		count += len(p.groups)
	}
	if count != len(n.groups.remote) {
		bad("groups: %d remote entries, peers advertise %d", len(n.groups.remote), count)
	}
}

func (e GroupMembers) String() string {
	return fmt.Sprintf("%s:%s=%d", e.Pattern, e.Group, e.Members)
}

// groupsWant reports whether a queue group, here or on a peer, may have a
// member matching topic (the run path then publishes one at a time).
func (n *Node) groupsWant(topic string) bool {
	if len(n.groups.local) > 0 {
		for k := range n.groups.local {
			if Match(k.pattern, topic) {
				return true
			}
		}
	}
	for _, e := range n.groups.remote {
		if Match(e.Pattern, topic) {
			return true
		}
	}
	return false
}

// StateHash is the topic-state hash of a node's patterns and queue group
// entries (in any order), as its beacons carry it.
func StateHash(patterns []string, groups []GroupMembers) uint64 {
	sorted := slices.Clone(patterns)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	g := slices.Clone(groups)
	slices.SortFunc(g, cmpGroupMembers)
	return stateHash(sorted, g)
}

// PeerGroups returns the queue group entries we hold for a peer, and
// whether its state was ever fetched.
func (n *Node) PeerGroups(peer string) ([]GroupMembers, bool) {
	p := n.peers.get(peer)
	if p == nil || !p.fetched {
		return nil, false
	}
	return slices.Clone(p.groups), true
}
