package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nexusd/nexusd/state"
)

// The oracle knows what the nodes cannot: every message published, which
// subscriptions it was owed to, what reached each node, and what each node
// declared lost or passed over. From that it judges the promise the mesh
// makes, message by message:
//
//   - silent loss: a message owed to a subscription that was neither
//     delivered to it nor inside a gap reported to it. A message is owed to
//     a subscription from the moment its publisher has learned (fetched) the
//     subscription's patterns from the subscriber's node, or at once when
//     both are on one node, for as long as the subscription lasts.
//   - needless loss: a number declared lost on a node although the message
//     reached that node (before or after the declaration), or although its
//     publisher, still known to that node as a peer, still held it in its
//     ring when the gap was declared.
//   - phantom loss: a number declared lost that its publisher never issued:
//     a gap bigger than what went missing.
//
// It reads the nodes only through their exported views and never changes
// them, so it cannot change a run.
type oracle struct {
	msgs    map[msgKey]*published
	maxSeq  map[srcTopic]uint64                // the highest number each publisher issued per topic
	arrived map[string]map[msgKey]arrival      // by receiving instance: first arrival
	gaps    map[string]map[srcTopic][]gapRange // by receiving instance: numbers passed over
}

// msgKey names a message by its publisher's own numbering.
type msgKey struct {
	source, topic string
	seq           uint64
}

func (k msgKey) String() string { return fmt.Sprintf("%s#%d", k.topic, k.seq) }

type published struct {
	at    time.Duration
	from  *simNode
	owed  []*client
	label string // publisher's name, for messages
}

// arrival is a message's first arrival at a node; late: the node's
// numbering of its stream had already passed it, so the node will not take
// it.
type arrival struct {
	late   bool
	passed uint64 // where the numbering stood, when late
}

type gapRange struct {
	from, to uint64
	lost     bool
	why      string
}

func (o *oracle) init() {
	o.msgs = map[msgKey]*published{}
	o.maxSeq = map[srcTopic]uint64{}
	o.arrived = map[string]map[msgKey]arrival{}
	o.gaps = map[string]map[srcTopic][]gapRange{}
}

// published records a publish sn accepted: the subscriptions it is owed to
// are those that match its topic and whose patterns its publisher has
// learned.
func (w *World) notePublished(sn *simNode, topic string) {
	w.notePublishedSeq(sn, topic, sn.node.OwnSeq(topic))
}

// notePublishedSeq is notePublished for the message sn numbered seq.
func (w *World) notePublishedSeq(sn *simNode, topic string, seq uint64) {
	k := msgKey{sn.id, topic, seq}
	p := &published{at: w.now, from: sn, label: sn.name}
	for _, c := range w.sortedClients() {
		if c.ended || !c.node.up || !matchesAny(c.patterns, topic) || c.group != "" {
			continue // a group member is owed a share: check group= judges it
		}
		if state.IsInbox(topic) {
			if owedInbox(sn, c, topic) {
				p.owed = append(p.owed, c)
				c.owedMsgs = append(c.owedMsgs, k)
			}
			continue
		}
		if c.node == sn || c.learned[sn.id] {
			p.owed = append(p.owed, c)
			c.owedMsgs = append(c.owedMsgs, k)
		}
	}
	w.oracle.msgs[k] = p
	st := srcTopic{sn.id, topic}
	w.oracle.maxSeq[st] = max(w.oracle.maxSeq[st], seq)
}

// learnFetch runs after sn took a fetched state: every subscription on the
// fetched node whose patterns sn now holds is known to sn from now on.
func (w *World) learnFetch(sn *simNode, st *state.NodeState) {
	if st == nil {
		return
	}
	pats, ok := sn.node.PeerPatterns(st.Instance)
	if !ok {
		return
	}
	for _, c := range w.clients {
		if !c.ended && c.node.id == st.Instance && c.group == "" && containsAll(pats, c.patterns) {
			c.learned[sn.id] = true
		}
	}
}

// learnAtSubscribe: a new subscription whose patterns a node already holds
// for the subscriber's node is known to that node at once.
func (w *World) learnAtSubscribe(c *client) {
	for _, sn := range w.nodes {
		if sn == c.node || !sn.up {
			continue
		}
		if pats, ok := sn.node.PeerPatterns(c.node.id); ok && containsAll(pats, c.patterns) {
			c.learned[sn.id] = true
		}
	}
}

func containsAll(have, want []string) bool {
	for _, p := range want {
		if !slices.Contains(have, p) {
			return false
		}
	}
	return true
}

// noteArrivals records messages handed to sn; one whose number sn declared
// lost before is a needless loss.
func (w *World) noteArrivals(sn *simNode, envs []state.Envelope) {
	got := w.oracle.arrived[sn.id]
	if got == nil {
		got = map[msgKey]arrival{}
		w.oracle.arrived[sn.id] = got
	}
	var late []uint64
	var lateIn *state.Envelope
	var lateWhy string
	for i := range envs {
		e := &envs[i]
		if e.SyncOnly || e.SourceSeq == 0 {
			continue
		}
		k := msgKey{e.Source, e.Topic, e.SourceSeq}
		if _, seen := got[k]; seen {
			continue
		}
		var a arrival
		if si, ok := sn.node.Stream(e.Source, e.Topic); ok && e.SourceSeq <= si.Last {
			a = arrival{late: true, passed: si.Last}
		}
		got[k] = a
		if g, ok := w.oracle.gapAt(sn.id, k); ok && g.lost {
			if lateIn != nil && (lateIn.Source != e.Source || lateIn.Topic != e.Topic) {
				w.reportLate(sn, lateIn, lateWhy, late)
				late = late[:0]
			}
			late, lateIn, lateWhy = append(late, k.seq), e, g.why
		}
	}
	if len(late) > 0 {
		w.reportLate(sn, lateIn, lateWhy, late)
	}
}

func (w *World) reportLate(sn *simNode, e *state.Envelope, why string, seqs []uint64) {
	w.violateN("needless-loss", uint64(len(seqs)), fmt.Sprintf("%s declared %d message(s) from %s on %s lost (%s), then they arrived: %s",
		sn.name, len(seqs), w.nameOf(e.Source), e.Topic, why, seqList(seqs)))
}

// noteGap records numbers sn passed over, and judges a declared loss.
func (w *World) noteGap(sn *simNode, e *state.ReportGap) {
	byStream := w.oracle.gaps[sn.id]
	if byStream == nil {
		byStream = map[srcTopic][]gapRange{}
		w.oracle.gaps[sn.id] = byStream
	}
	st := srcTopic{e.Source, e.Topic}
	byStream[st] = append(byStream[st], gapRange{from: e.From, to: e.To, lost: e.Lost, why: e.Why})
	if !e.Lost {
		return
	}
	issued := w.oracle.maxSeq[st]
	if e.To > issued {
		w.violateN("phantom-loss", e.To-max(issued, e.From-1), fmt.Sprintf("%s declared %s#%d..%d from %s lost (%s), but it only ever issued up to #%d",
			sn.name, e.Topic, e.From, e.To, w.nameOf(e.Source), e.Why, issued))
	}
	src := w.nodeByID(e.Source)
	stillHeld := src != nil && src.up && sn.node.KnowsPeer(e.Source)
	arrived := w.oracle.arrived[sn.id]
	var reached, held []uint64
	for q := e.From; q <= min(e.To, issued); q++ {
		k := msgKey{e.Source, e.Topic, q}
		_, reachedIt := arrived[k]
		switch {
		case reachedIt:
			reached = append(reached, q)
		case stillHeld && src.node.HoldsOwnFor(sn.id, e.Topic, q):
			held = append(held, q)
		}
	}
	if len(reached) > 0 {
		w.violateN("needless-loss", uint64(len(reached)), fmt.Sprintf("%s declared %d message(s) from %s on %s lost (%s) that had reached it: %s",
			sn.name, len(reached), w.nameOf(e.Source), e.Topic, e.Why, seqList(reached)))
	}
	if len(held) > 0 {
		w.violateN("needless-loss", uint64(len(held)), fmt.Sprintf("%s declared %d message(s) from %s on %s lost (%s) while %s, a peer it knew, still held them: %s",
			sn.name, len(held), w.nameOf(e.Source), e.Topic, e.Why, w.nameOf(e.Source), seqList(held)))
	}
}

// gapAt finds the passed-over range of node id's stream that holds k.
func (o *oracle) gapAt(id string, k msgKey) (gapRange, bool) {
	for _, g := range o.gaps[id][srcTopic{k.source, k.topic}] {
		if k.seq >= g.from && k.seq <= g.to {
			return g, true
		}
	}
	return gapRange{}, false
}

func (w *World) nodeByID(id string) *simNode {
	for _, sn := range w.nodes {
		if sn.id == id {
			return sn
		}
	}
	return nil
}

func seqList(qs []uint64) string {
	var b strings.Builder
	for i, q := range qs {
		if i == 8 {
			fmt.Fprintf(&b, " ... (%d more)", len(qs)-i)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "#%d", q)
	}
	return b.String()
}

// Settled reports whether nothing is under way anywhere: no call in flight,
// nothing held behind a hole, nothing waiting for a peer. Only then can a
// missing message be told from one still on its way.
func (w *World) Settled() (bool, string) {
	for _, sn := range w.upNodes() {
		b := sn.node.Backlog()
		switch {
		case b.Calls > 0:
			return false, fmt.Sprintf("%s has %d calls in flight", sn.name, b.Calls)
		case b.Held > 0:
			return false, fmt.Sprintf("%s holds %d messages behind holes", sn.name, b.Held)
		case b.Waiting > 0:
			return false, fmt.Sprintf("%s has %d messages waiting for peers", sn.name, b.Waiting)
		}
	}
	return true, ""
}

// CheckSilentLoss judges every message owed to a subscription that is
// still open: it was delivered, or its node numbered it (and the
// accounting check covers what became of it there), or its node declared
// it lost (the subscriber sees the skip and is warned). Anything else is a
// silent loss. Messages whose publisher crashed before they reached the
// subscriber's node are not judged (they died with it), nor those whose
// publisher and subscriber's node do not know each other now (they may yet
// arrive). It needs a settled world; unsettled, it says so.
func (w *World) CheckSilentLoss() []string {
	if ok, why := w.Settled(); !ok {
		return []string{"cannot judge loss while work is under way (" + why + "): stabilize first"}
	}
	var out []string
	var counts []uint64
	for _, c := range w.sortedClients() {
		if c.ended || c.paused || !c.node.up {
			continue
		}
		n := c.node
		var silent []string
		for _, k := range c.owedMsgs {
			if c.got[k] || k.source == n.id {
				continue
			}
			if why := w.judge(n, k); why != "" {
				silent = append(silent, k.String()+" from "+w.oracle.msgs[k].label+" ("+why+")")
			}
		}
		if len(silent) > 0 {
			msg := fmt.Sprintf("%s on %s lost %d owed message(s) without a word: %s", c.name, n.name, len(silent), strings.Join(silent[:min(len(silent), 6)], ", "))
			if len(silent) > 6 {
				msg += fmt.Sprintf(", ... (%d more)", len(silent)-6)
			}
			out = append(out, msg)
			counts = append(counts, uint64(len(silent)))
		}
	}
	for i, o := range out {
		w.violateN("silent-loss", counts[i], o)
	}
	return out
}

// judge says why owed message k, not delivered to a subscriber on n, was
// lost silently there, or "" when that is not so: it is accounted for when
// n declared it lost, or when it reached n while n's numbering of its
// stream had not passed it (n numbered it: the accounting check covers the
// rest).
func (w *World) judge(n *simNode, k msgKey) string {
	src := w.oracle.msgs[k].from
	a, reached := w.oracle.arrived[n.id][k]
	if src.id != k.source || !src.up {
		if !reached {
			return "" // died with its publisher
		}
	} else if !src.node.KnowsPeer(n.id) || !n.node.KnowsPeer(src.id) {
		return "" // may yet arrive
	}
	if g, ok := w.oracle.gapAt(n.id, k); ok {
		if g.lost {
			return ""
		}
		return "passed over: " + g.why
	}
	switch {
	case !reached:
		return "never arrived, never declared lost"
	case a.late:
		return fmt.Sprintf("arrived after the node's numbering had passed it, at #%d", a.passed)
	}
	return "" // numbered there
}

// CheckNoLoss is every loss check at once: the accounting of what each
// node numbered, silent loss now, and the needless and phantom losses seen
// so far.
func (w *World) CheckNoLoss() []string {
	out := w.CheckAccounting()
	out = append(out, w.CheckSilentLoss()...)
	for _, kind := range []string{"needless-loss", "phantom-loss"} {
		out = append(out, w.Violations(kind)...)
	}
	return out
}

// LossCounts are the oracle's verdicts so far, by kind: messages silently,
// needlessly and phantomly lost, duplicate deliveries and deliveries out
// of order.
type LossCounts struct {
	Silent, Needless, Phantom, Duplicates, Order uint64
}

// Losses counts what the violations recorded so far are about, by kind.
func (w *World) Losses() LossCounts {
	var lc LossCounts
	for _, v := range w.checks.violations {
		switch v.kind {
		case "silent-loss":
			lc.Silent += v.n
		case "needless-loss":
			lc.Needless += v.n
		case "phantom-loss":
			lc.Phantom += v.n
		case "duplicate":
			lc.Duplicates++
		case "order":
			lc.Order++
		}
	}
	return lc
}
