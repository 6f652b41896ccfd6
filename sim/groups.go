package sim

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nexusd/nexusd/state"
)

// The queue group oracle. A group member is owed no message by itself: of
// every message published once some member was known to its publisher
// (and after the group's last member joined), exactly one member must get
// it. A message that reached none is accounted for only when it died
// with its publisher before reaching any node chosen for it, or may have
// died with a member's node: a push of it for the group went to a node
// that is down or restarted since, or its publisher knew a member whose
// node has died since (the publisher may have chosen it and held the
// message for it until it found the node dead); or when a node it was
// pushed to for the group declared it lost (a gap its members were told
// of), or, never pushed for the group (shed unsent from a full backlog),
// was declared lost at the node of a member its publisher knew; or when
// a member's full queue dropped it, as far as the drops its node reports
// for the members there go (each one warned of).
type groupOracle struct {
	since   map[string]time.Duration          // group -> when its latest member joined
	learned map[string]map[string][]knownSpan // member -> publisher node id -> when it knew the member
	home    map[string]string                 // member -> the instance it joined on
	pushed  map[groupMsg][]string             // (message, group) -> nodes a push of it named the group for
	ttl     map[msgKey]bool                   // messages published with a TTL
}

// knownSpan is a time a publisher knew a member: from a fetch that showed
// it to the publisher's removal of the member's node (0: still known).
type knownSpan struct{ from, until time.Duration }

func (g *groupOracle) init() {
	if g.since == nil {
		g.since = map[string]time.Duration{}
		g.learned = map[string]map[string][]knownSpan{}
		g.home = map[string]string{}
		g.pushed = map[groupMsg][]string{}
		g.ttl = map[msgKey]bool{}
	}
}

// joinedGroup notes a new member.
func (w *World) joinedGroup(c *client) {
	w.groups.init()
	w.groups.since[c.group] = w.now
	w.groups.home[c.name] = c.node.id
	w.groups.learned[c.name] = map[string][]knownSpan{c.node.id: {{from: w.now}}}
}

// knownAt reports whether node id knew member name at t.
func (g *groupOracle) knownAt(name, id string, t time.Duration) bool {
	for _, s := range g.learned[name][id] {
		if s.from <= t && (s.until == 0 || t < s.until) {
			return true
		}
	}
	return false
}

// knowing reports whether node id knows member name now.
func (g *groupOracle) knowing(name, id string) bool {
	spans := g.learned[name][id]
	return len(spans) > 0 && spans[len(spans)-1].until == 0
}

// groupAdvertised reports whether a fetched state counts member c: its
// group has a live member on every one of c's patterns there. It notes
// when the fetching node learned it.
func groupAdvertised(st *state.NodeState, c *client) bool {
	if c.group == "" {
		return false
	}
	for _, p := range c.patterns {
		if !slices.ContainsFunc(st.QueueGroups, func(e state.GroupMembers) bool { return e.Pattern == p && e.Group == c.group }) {
			return false
		}
	}
	return true
}

// noteExpiring notes that sn's latest message on topic has a TTL: it may
// expire before its member takes it (the member is warned of it).
func (w *World) noteExpiring(sn *simNode, topic string) {
	w.noteExpiringSeq(sn, topic, sn.node.OwnSeq(topic))
}

// noteExpiringSeq is noteExpiring for the message sn numbered seq.
func (w *World) noteExpiringSeq(sn *simNode, topic string, seq uint64) {
	w.groups.init()
	w.groups.ttl[msgKey{sn.id, topic, seq}] = true
}

func (w *World) notePushedForGroups(e *state.Push) {
	w.groups.init()
	k := msgKey{e.Msg.Source, e.Msg.Topic, e.Msg.SourceSeq}
	for _, g := range e.Groups {
		gk := groupMsg{k, g}
		if !slices.Contains(w.groups.pushed[gk], e.Peer) {
			w.groups.pushed[gk] = append(w.groups.pushed[gk], e.Peer)
		}
	}
}

// noteGroupLearned records, after a fetch, which members sn knows now:
// those of the state sn took. A fetch that completes after sn removed
// its peer is dropped, and teaches sn nothing.
func (w *World) noteGroupLearned(sn *simNode, st *state.NodeState) {
	if st == nil || len(st.QueueGroups) == 0 {
		return
	}
	took, ok := sn.node.PeerGroups(st.Instance)
	if !ok {
		return
	}
	st = &state.NodeState{Instance: st.Instance, QueueGroups: took}
	w.groups.init()
	for _, c := range w.clients {
		if c.group != "" && c.node.id == st.Instance && groupAdvertised(st, c) && !w.groups.knowing(c.name, sn.id) {
			w.groups.learned[c.name][sn.id] = append(w.groups.learned[c.name][sn.id], knownSpan{from: w.now})
		}
	}
}

// groupPeerGone: sn removed peer, so it knows the members there no more
// (until it fetches their state again).
func (w *World) groupPeerGone(sn *simNode, peer string) {
	for _, c := range w.clients {
		if c.group != "" && w.groups.home[c.name] == peer && w.groups.knowing(c.name, sn.id) {
			spans := w.groups.learned[c.name][sn.id]
			spans[len(spans)-1].until = w.now
		}
	}
}

// GroupReport is what check group= found.
type GroupReport struct {
	Messages int            // judged
	Got      map[string]int // per member
	Died     int            // reached none: the chosen node died with it
	PubDied  int            // reached none: its publisher died before it reached a member's node
	Gap      int            // reached none: declared lost where it was pushed
	Expiring int            // reached none: it had a TTL
	Dropped  int            // reached none: a member's full queue dropped it (as many as the members there report)
	Lost     []string       // reached none, unaccounted for
	Twice    []string       // reached more than one member
}

// CheckGroup judges group name's messages.
func (w *World) CheckGroup(name string) (GroupReport, error) {
	r := GroupReport{Got: map[string]int{}}
	var members []*client
	for _, c := range w.sortedClients() {
		if c.group == name {
			members = append(members, c)
			r.Got[c.name] = 0
		}
	}
	if len(members) == 0 {
		return r, fmt.Errorf("check group: no member of group %q", name)
	}
	keys := make([]msgKey, 0, len(w.oracle.msgs))
	for k := range w.oracle.msgs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b msgKey) int {
		return strings.Compare(a.String()+"/"+a.source, b.String()+"/"+b.source)
	})
	dropped := map[string][]string{} // a member's node -> what reached none, perhaps dropped there
	drops := map[string]int{}        // a member's node -> what its members' queues dropped, read once
	dropsAt := func(id string) int {
		n, ok := drops[id]
		if !ok {
			n = w.droppedBy(members, id)
			drops[id] = n
		}
		return n
	}
	for _, k := range keys {
		p := w.oracle.msgs[k]
		if p.at < w.groups.since[name] || !w.groupKnown(members, k, p) {
			continue
		}
		r.Messages++
		var to []string
		for _, c := range members {
			if c.got[k] {
				to = append(to, c.name)
				r.Got[c.name]++
			}
		}
		switch {
		case len(to) > 1:
			r.Twice = append(r.Twice, fmt.Sprintf("%s to %s", k, strings.Join(to, "+")))
		case len(to) == 1:
		case w.diedWith(groupMsg{k, name}), w.memberDied(members, k, p):
			r.Died++
		case w.publisherDied(groupMsg{k, name}):
			r.PubDied++
		case w.declaredLost(groupMsg{k, name}), w.shedThenDeclaredLost(members, groupMsg{k, name}, p):
			r.Gap++
		case w.groups.ttl[k]:
			r.Expiring++
		default:
			if x := w.droppingNode(groupMsg{k, name}, dropsAt); x != "" {
				dropped[x] = append(dropped[x], k.String()+" from "+p.label)
			} else {
				r.Lost = append(r.Lost, k.String()+" from "+p.label)
			}
		}
	}
	for _, x := range slices.Sorted(maps.Keys(dropped)) {
		// Which of them the queues dropped is not known, only how many:
		// those beyond that count are lost.
		d := min(len(dropped[x]), dropsAt(x))
		r.Dropped += d
		r.Lost = append(r.Lost, dropped[x][d:]...)
	}
	return r, nil
}

// droppingNode is the node k may have been dropped at from a member's full
// queue: one it was pushed to for its group, or its publisher's own (a
// local member's share is not pushed), where a live member reports drops
// (dropsAt). "" when there is none.
func (w *World) droppingNode(k groupMsg, dropsAt func(id string) int) string {
	for _, x := range append([]string{k.source}, w.groups.pushed[k]...) {
		if dropsAt(x) > 0 {
			return x
		}
	}
	return ""
}

// droppedBy is how many messages the live members on node id say their
// full queues dropped (their node warned them of each).
func (w *World) droppedBy(members []*client, id string) int {
	sn := w.nodeByID(id)
	if sn == nil || !sn.up {
		return 0
	}
	n := 0
	for _, c := range members {
		if c.ended || c.node != sn || w.groups.home[c.name] != id {
			continue
		}
		for _, s := range sn.node.Subscriptions() {
			if s.ID == c.subID {
				n += int(s.Dropped)
			}
		}
	}
	return n
}

// groupKnown reports whether some member matching topic was known to p's
// publisher when it published.
func (w *World) groupKnown(members []*client, k msgKey, p *published) bool {
	for _, c := range members {
		if w.groups.knownAt(c.name, k.source, p.at) && (!c.ended || c.endedAt > p.at) && matchesAny(c.patterns, k.topic) {
			return true
		}
	}
	return false
}

// memberDied reports whether p's publisher knew, when it published, a
// member matching its topic whose node has died since.
func (w *World) memberDied(members []*client, k msgKey, p *published) bool {
	for _, c := range members {
		if w.groups.knownAt(c.name, k.source, p.at) && matchesAny(c.patterns, k.topic) {
			if sn := w.nodeByID(w.groups.home[c.name]); sn == nil || !sn.up {
				return true
			}
		}
	}
	return false
}

// groupMsg is a message as chosen for one queue group.
type groupMsg struct {
	msgKey
	group string
}

// diedWith reports whether a push of k for its group went to a node that
// is down, or whose incarnation is gone.
func (w *World) diedWith(k groupMsg) bool {
	for _, id := range w.groups.pushed[k] {
		if sn := w.nodeByID(id); sn == nil || !sn.up {
			return true
		}
	}
	return false
}

// publisherDied reports whether k's publisher (that incarnation) is gone
// and k reached no node a push of it named its group for: it died with
// its publisher. (A member's node that k reached for its ordinary
// subscriptions, or for another group, was not chosen for this group.)
func (w *World) publisherDied(k groupMsg) bool {
	if sn := w.nodeByID(k.source); sn != nil && sn.up {
		return false
	}
	for _, id := range w.groups.pushed[k] {
		if _, ok := w.oracle.arrived[id][k.msgKey]; ok {
			return false
		}
	}
	return true
}

// declaredLost reports whether a node k was pushed to for its group
// declared it lost.
func (w *World) declaredLost(k groupMsg) bool {
	for _, id := range w.groups.pushed[k] {
		if g, ok := w.oracle.gapAt(id, k.msgKey); ok && g.lost {
			return true
		}
	}
	return false
}

// shedThenDeclaredLost reports whether k, never pushed for its group,
// was declared lost at the node of a member its publisher knew when it
// published: the publisher may have chosen that member and shed the push
// from its full backlog for the node before sending it; the node then saw
// the hole by the numbers that followed and, the publisher's ring no
// longer holding k, told its subscribers of the loss (docs/protocol.md
// §4.2, §5.4: as for a push lost on the way).
func (w *World) shedThenDeclaredLost(members []*client, k groupMsg, p *published) bool {
	if len(w.groups.pushed[k]) > 0 {
		return false // it was pushed for the group: declaredLost judges where
	}
	for _, c := range members {
		if !w.groups.knownAt(c.name, k.source, p.at) || !matchesAny(c.patterns, k.topic) {
			continue
		}
		if g, ok := w.oracle.gapAt(w.groups.home[c.name], k.msgKey); ok && g.lost {
			return true
		}
	}
	return false
}

// checkGroup: check group=NAME [within=PCT].
func (s *Script) checkGroup(a *args) (string, error) {
	name, err := a.need("group")
	if err != nil {
		return "", err
	}
	within := -1.0
	if v := a.str("within", ""); v != "" {
		if within, err = strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64); err != nil || within < 0 {
			return "", fmt.Errorf("check group: within=%s: want a percentage such as 10%%", v)
		}
	}
	r, err := s.w.CheckGroup(name)
	if err != nil {
		return "", err
	}
	return r.verdict(within)
}

func (r GroupReport) verdict(within float64) (string, error) {
	names := make([]string, 0, len(r.Got))
	for n := range r.Got {
		names = append(names, n)
	}
	slices.Sort(names)
	var spread []string
	var uneven []string
	one := r.Messages - r.Died - r.PubDied - r.Gap - r.Expiring - r.Dropped
	share := float64(one) / float64(len(names))
	for _, n := range names {
		spread = append(spread, fmt.Sprintf("%s=%d", n, r.Got[n]))
		if within >= 0 && (float64(r.Got[n]) < share*(1-within/100) || float64(r.Got[n]) > share*(1+within/100)) {
			uneven = append(uneven, fmt.Sprintf("%s got %d, not within %g%% of %.0f", n, r.Got[n], within, share))
		}
	}
	out := fmt.Sprintf("%d messages, %d to exactly one member (%s)", r.Messages, one, strings.Join(spread, " "))
	if r.Died > 0 {
		out += fmt.Sprintf("; %d died with the chosen member's node", r.Died)
	}
	if r.PubDied > 0 {
		out += fmt.Sprintf("; %d died with their publisher", r.PubDied)
	}
	if r.Gap > 0 {
		out += fmt.Sprintf("; %d declared lost where pushed", r.Gap)
	}
	if r.Expiring > 0 {
		out += fmt.Sprintf("; %d with a TTL reached none (expired)", r.Expiring)
	}
	if r.Dropped > 0 {
		out += fmt.Sprintf("; %d dropped from a member's full queue", r.Dropped)
	}
	var bad []string
	if len(r.Lost) > 0 {
		bad = append(bad, fmt.Sprintf("%d reached no member: %s", len(r.Lost), strings.Join(r.Lost[:min(6, len(r.Lost))], " ")))
	}
	if len(r.Twice) > 0 {
		bad = append(bad, fmt.Sprintf("%d reached more than one member: %s", len(r.Twice), strings.Join(r.Twice[:min(6, len(r.Twice))], " ")))
	}
	bad = append(bad, uneven...)
	if len(bad) > 0 {
		return strings.Join(bad, "\n"), ErrCheck
	}
	return "ok: " + out, nil
}
