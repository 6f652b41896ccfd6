package state

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/nexusd/nexusd/internal/quadheap"
)

// Runs (run.go): a PublishedBatch is routed a run of one topic at a time,
// and must give exactly what its publishes give stepped one by one. The
// oracle is a twin: two nodes built and driven alike, one handed frames,
// the other the same publishes alone.

type twin struct {
	t              *testing.T
	batched, alone *harness
	runs           int // frames whose deliveries went in runs
}

func newTwin(t *testing.T, mods ...func(*Config)) *twin {
	w := &twin{t: t, batched: newHarness(t, "n1", mods...), alone: newHarness(t, "n1", mods...)}
	w.compare("start", effectLines(w.batched.start()), effectLines(w.alone.start()))
	return w
}

// both runs f on each node; f returns the effects to compare. A queue a
// frame filled may drain in runs (pump), where one filled one by one
// cannot: the deliveries are compared stream by stream then (runLines).
func (w *twin) both(what string, f func(h *harness) []Effect) []Effect {
	w.t.Helper()
	a := f(w.batched)
	b := f(w.alone)
	runs := len(runsOf(a)) > 0 || len(runsOf(b)) > 0
	w.compare(what, runLines(a, runs), runLines(b, runs))
	return a
}

func (w *twin) step(ev Event) []Effect {
	w.t.Helper()
	return w.both(ev.String(), func(h *harness) []Effect { return h.step(ev) })
}

// frame publishes pubs as one frame on one node and one by one on the
// other, requires the same effects in the same order and the same state
// after, and returns the effects.
func (w *twin) frame(pubs []Published) []Effect {
	w.t.Helper()
	a := w.batched.keep(w.batched.n.Step(w.batched.now, &PublishedBatch{Pubs: pubs}))
	var b []Effect
	for i := range pubs {
		b = append(b, w.alone.step(&pubs[i])...)
	}
	runs := len(runsOf(a)) > 0
	if runs {
		w.runs++
	}
	w.compare(fmt.Sprintf("frame of %d", len(pubs)), runLines(a, runs), runLines(b, runs))
	w.same()
	return a
}

func (w *twin) compare(what string, batched, alone []string) {
	w.t.Helper()
	if slices.Equal(batched, alone) {
		return
	}
	i := 0
	for i < min(len(batched), len(alone)) && batched[i] == alone[i] {
		i++
	}
	w.t.Fatalf("%s: effects differ from #%d (of %d batched, %d alone)\nbatched:\n  %s\nalone:\n  %s", what, i, len(batched), len(alone),
		strings.Join(batched[i:min(i+8, len(batched))], "\n  "), strings.Join(alone[i:min(i+8, len(alone))], "\n  "))
}

// same requires both nodes to hold the same state, down to queue contents
// and the order of their timers.
func (w *twin) same() {
	w.t.Helper()
	a, b := w.batched.n, w.alone.n
	as, bs := a.Status(), b.Status()
	// A frame's full slabs of messages are used again once let go;
	// publishes stepped alone make their messages one by one.
	as.Counters.SlabsReused, bs.Counters.SlabsReused = 0, 0
	if !reflect.DeepEqual(as, bs) {
		w.t.Fatalf("status differs:\nbatched %+v\nalone   %+v", as, bs)
	}
	if !reflect.DeepEqual(a.Subscriptions(), b.Subscriptions()) {
		w.t.Fatalf("subscriptions differ:\nbatched %+v\nalone   %+v", a.Subscriptions(), b.Subscriptions())
	}
	w.compare("state", strings.Split(nodeDigest(a), "\n"), strings.Split(nodeDigest(b), "\n"))
}

// runsOf is the runs of deliveries among effs (Deliver.More).
func runsOf(effs []Effect) []*Deliver {
	var runs []*Deliver
	for _, d := range of[*Deliver](effs) {
		if d.More > 0 {
			runs = append(runs, d)
		}
	}
	return runs
}

// runLines is effectLines, but with a run of deliveries (Deliver.More)
// written out as the deliveries it stands for, and with byStream set, in
// the order that means something: each stream's deliveries, stream by
// stream, then every other effect. A run hands a stream its messages at
// once, where stepping them one by one interleaves them with pushes and
// answers, whose order against another stream's is no one's.
func runLines(effs []Effect, byStream bool) []string {
	if !byStream {
		return effectLines(effs)
	}
	var others []Effect
	streams := map[uint64][]Effect{}
	for _, e := range effs {
		d, ok := e.(*Deliver)
		if !ok {
			others = append(others, e)
			continue
		}
		for j := 0; j <= d.More; j++ {
			o := d.Out
			o.Msg = d.At(j)
			streams[d.Stream] = append(streams[d.Stream], &Deliver{Stream: d.Stream, Out: o})
		}
	}
	var lines []string
	for _, s := range slices.Sorted(maps.Keys(streams)) {
		lines = append(lines, effectLines(streams[s])...)
	}
	return append(lines, effectLines(others)...)
}

// effectLines describes effects with what their text forms leave out.
func effectLines(effs []Effect) []string {
	out := make([]string, len(effs))
	for i, e := range effs {
		switch e := e.(type) {
		case *Push:
			out[i] = fmt.Sprintf("%s prev=%d dropped-from=%d sync=%v %s", e, e.Prev, e.DroppedFrom, e.SyncOnly, msgLine(e.Msg))
		case *Deliver:
			out[i] = e.String()
			if e.Out.Msg != nil {
				out[i] += " " + msgLine(e.Out.Msg)
			}
			if e.Out.Warning != nil {
				out[i] += fmt.Sprintf(" %+v", *e.Out.Warning)
			}
		case *CompletePublish:
			out[i] = fmt.Sprintf("publish-done req=%d %+v err=%v", e.Req, e.Result, e.Err)
		default:
			out[i] = e.String()
		}
	}
	return out
}

func msgLine(m *Message) string {
	return fmt.Sprintf("[%s %s#%d seq=%d ts=%d exp=%d ttl=%d %dB]", m.ID, m.Topic, m.SourceSeq, m.Seq, m.TimestampMs, m.ExpiresMs, m.TTLMs, len(m.Payload))
}

// nodeDigest describes what a node holds that its status leaves out.
func nodeDigest(n *Node) string {
	var b strings.Builder
	ids := func(d *deque[*Message]) string {
		var s []string
		for i := 0; i < d.len(); i++ {
			s = append(s, fmt.Sprintf("%s#%d", short(d.at(i).ID), d.at(i).Seq))
		}
		return strings.Join(s, ",")
	}
	alarmLine := func(a alarm) string { return fmt.Sprintf("%d/%d", a.want, a.armed) }
	for _, id := range sortedKeys(n.subs) {
		s := n.subs[id]
		fmt.Fprintf(&b, "sub %s stream=%d paused=%v credit=%d/%d bytes=%d queue=[%s] pending=", short(id), s.stream, s.paused, s.credit, s.creditBytes, s.bytes, ids(&s.queue))
		for i := 0; i < s.pending.len(); i++ {
			b.WriteString(s.pending.at(i).Kind.String() + ",")
		}
		b.WriteString(" blocked=")
		for i := 0; i < s.blocked.len(); i++ {
			bm := s.blocked.at(i)
			fmt.Fprintf(&b, "%s@%d,", short(bm.m.ID), bm.deadline)
			if bm.pub != nil {
				fmt.Fprintf(&b, "req%d/%d/%+v,", bm.pub.req, bm.pub.waiting, bm.pub.result)
			}
		}
		fmt.Fprintf(&b, " dropped=%d expired=%d lost=%d delivered=%d loss=%v queued=%v warned=%v last=%d reason=%s alarms=%s %s %s %s\n",
			s.dropped, s.expired, s.lost, s.delivered, s.lossSinceWarn, s.warnQueued, s.warned, s.lastWarn, s.warnReason,
			alarmLine(s.heartbeatAlarm), alarmLine(s.blockAlarm), alarmLine(s.warnAlarm), alarmLine(s.pauseAlarm))
	}
	for _, name := range sortedKeys(n.topics.m) {
		t := n.topics.m[name]
		fmt.Fprintf(&b, "topic %s head=%d own=%d lost=%d gone=%d ring=[%s]\n", name, t.head, t.ownSeq, t.lost, t.gone, ids(&t.ring))
	}
	for tt := n.topics.head; tt != nil; tt = tt.lruNext {
		b.WriteString("lru " + tt.name + "\n")
	}
	outs := func(d *deque[outgoing]) string {
		var s []string
		for i := 0; i < d.len(); i++ {
			o := d.at(i)
			s = append(s, fmt.Sprintf("%s#%d<%d/%v/%v", short(o.m.ID), o.m.SourceSeq, o.prev, o.chained, o.syncOnly))
		}
		return strings.Join(s, ",")
	}
	for _, p := range n.sortedPeers() {
		l := &p.link
		fmt.Fprintf(&b, "peer %s inflight=%d seq=%d bytes=%d/%d resting=%v failures=%d retry=%s backlog=[%s] sent=", p.id, l.inflight, l.seq, l.bytes, l.sentBytes, l.resting, l.failures, alarmLine(l.retryAlarm), outs(&l.backlog))
		for i := 0; i < l.sent.len(); i++ {
			r := l.sent.at(i)
			fmt.Fprintf(&b, "%d:%v,", r.seq, r.done)
		}
		b.WriteString(" retries=")
		for i := 0; i < l.retry.len(); i++ {
			fmt.Fprintf(&b, "%d,", l.retry.at(i).seq)
		}
		b.WriteString("\n")
	}
	for _, id := range sortedKeys(n.chains) {
		c := n.chains[id]
		fmt.Fprintf(&b, "chain %s departed=%d bytes=%d missed=[%s] topics=", id, c.departed, c.bytes, outs(&c.missed))
		for _, topic := range sortedKeys(c.topics) {
			fmt.Fprintf(&b, "%s:%+v,", topic, *c.topics[topic])
		}
		b.WriteString("\n")
	}
	timers := slices.Clone(n.timers)
	slices.SortFunc(timers, func(x, y timerItem) int { return cmp.Or(cmp.Compare(x.At, y.At), cmp.Compare(x.Seq, y.Seq)) })
	for _, it := range timers {
		fmt.Fprintf(&b, "timer %d #%d kind=%d", it.At, it.Seq, it.V.kind)
		if it.V.sub != nil {
			b.WriteString(" sub=" + short(it.V.sub.id))
		}
		if it.V.peer != nil {
			b.WriteString(" peer=" + it.V.peer.id)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "buffer count=%d bytes=%d index=%d expirable=%d timerSeq=%d mem=%+v floors=%d/%d reap=%s\n",
		n.buffer.count, n.buffer.bytes, n.buffer.index, n.expirable, n.timerSeq, n.mem, n.ownSeqFloor, n.headFloor, alarmLine(n.reapAlarm))
	return b.String()
}

type timerItem = quadheap.Item[timer]

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// A frame mixing topics keeps each topic's order and numbering: every
// message is numbered on its own topic in the order published, and every
// publish is answered in order.
func TestBatchKeepsEachTopicsOrderAndNumbering(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 100, "a", "b")
	h.sync("n2", "#")
	var pubs []Published
	for i, topic := range []string{"a", "a", "b", "a", "b", "b", "b", "a"} {
		pubs = append(pubs, Published{Req: uint64(i + 1), Topic: topic, Payload: []byte(fmt.Sprint("p", i+1))})
	}
	effs := h.step(&PublishedBatch{Pubs: pubs})
	checkLog(t, effs, 1, "msg a#1 p1", "msg a#2 p2", "msg b#1 p3", "msg a#3 p4", "msg b#2 p5", "msg b#3 p6", "msg b#4 p7", "msg a#4 p8")
	var pushed []string
	for _, p := range of[*Push](effs) {
		pushed = append(pushed, fmt.Sprintf("%s#%d<-%d", p.Msg.Topic, p.Msg.SourceSeq, p.Prev))
	}
	if want := "[a#1<-0 a#2<-1 b#1<-0 a#3<-2 b#2<-1 b#3<-2 b#4<-3 a#4<-3]"; fmt.Sprint(pushed) != want {
		t.Fatalf("pushed %v, want %s", pushed, want)
	}
	var reqs []uint64
	for _, c := range of[*CompletePublish](effs) {
		if c.Err != nil || c.Result.Subscribers != 2 {
			t.Fatalf("publish %d: %+v", c.Req, c)
		}
		reqs = append(reqs, c.Req)
	}
	if fmt.Sprint(reqs) != "[1 2 3 4 5 6 7 8]" {
		t.Fatalf("answered %v", reqs)
	}
	// The next frame goes on numbering where this one stopped.
	effs = h.step(&PublishedBatch{Pubs: pubs[:2]})
	checkLog(t, effs, 1, "msg a#5 p1", "msg a#6 p2")
}

// A run that crosses a queue's limit sheds what publishing its messages
// one by one sheds, by each policy: the same messages dropped, each
// publish told how many it cost, one warning.
func TestBatchCrossingQueueLimitShedsAsOneByOne(t *testing.T) {
	for _, policy := range []Policy{DropOldest, DropNewest, Block} {
		t.Run(policy.String(), func(t *testing.T) {
			w := newTwin(t, func(c *Config) { c.BlockedLimit = 2 })
			for _, h := range []*harness{w.batched, w.alone} {
				h.fullSub(1, 4, policy, "t")
				h.subscribe(2, 3, "t") // keeps up for three messages, then queues too
			}
			pubs := make([]Published, 10)
			for i := range pubs {
				pubs[i] = Published{Req: uint64(100 + i), Topic: "t", Payload: []byte(fmt.Sprint("p", i+1))}
			}
			effs := w.frame(pubs)
			dropped := 0
			for _, c := range of[*CompletePublish](effs) {
				dropped += c.Result.Dropped
			}
			if policy != Block && dropped == 0 {
				t.Fatalf("nothing dropped:\n%s", describe(effs))
			}
			w.step(&CreditGranted{Stream: 1, N: 20})
			w.step(&CreditGranted{Stream: 2, N: 20})
			w.both("block timeouts", func(h *harness) []Effect { return h.advance(10 * time.Second) })
			w.same()
		})
	}
}

// A queue with room takes a whole run in one append, and hands it out in
// order when credit comes.
func TestBatchQueuesARunAtOnce(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.fullSub(1, 100, DropOldest, "t")
	pubs := make([]Published, 40)
	for i := range pubs {
		pubs[i] = Published{Req: uint64(i + 1), Topic: "t", Payload: []byte(fmt.Sprint(i + 1))}
	}
	h.step(&PublishedBatch{Pubs: pubs})
	if st := h.n.Subscriptions()[0]; st.Queued != 40 {
		t.Fatalf("queued %d, want 40", st.Queued)
	}
	var want []string
	for i := range 40 {
		want = append(want, fmt.Sprintf("msg t#%d %d", i+1, i+1))
	}
	checkLog(t, h.grant(1, 100), 1, want...)
}

// Any frame gives the effects and the state its publishes give stepped
// one by one, whatever the mix: runs and topic changes, refusals and
// retained publishes in the middle of runs, TTLs, every policy, credit in
// events and bytes, paused subscriptions, peers whose links are full or
// resting, departed peers, small rings, queues, backlogs and budgets.
func TestBatchStepsAsItsPublishesOneByOne(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 50
	}
	runs := 0
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runs += batchTwinRun(t, uint64(seed)) })
	}
	t.Logf("runs in %d frames", runs)
	if runs < seeds/20 {
		t.Fatalf("deliveries went in runs in %d frames of %d seeds: the check hardly saw a run", runs, seeds)
	}
}

// batchTwinRun returns in how many frames deliveries went in runs.
func batchTwinRun(t *testing.T, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, 13))
	chance := func(n int) bool { return rng.IntN(n) == 0 }
	c := testConfig("n1")
	c.DedupWindow = 64
	c.MaxPayloadBytes = 200
	c.MessageBufferSize = 1 + rng.IntN(16)
	c.QueueLimit = 1 + rng.IntN(12)
	c.BlockedLimit = 1 + rng.IntN(4)
	c.PushWindow = 1 + rng.IntN(6)
	c.PeerBacklogLimit = 1 + rng.IntN(10)
	if chance(3) {
		c.RingBytes = 2000 + rng.IntN(6000)
	}
	policies := []Policy{DropOldest, DropNewest, Block, PolicyDefault}
	if chance(3) {
		c.QueueBytes = 1500 + rng.IntN(4000)
		// A block subscription whose queue is full by count blocks the
		// next publish however many bytes it holds, past QueueBytes, which
		// CheckInvariants refuses (so with publishes stepped alone too).
		policies = []Policy{DropOldest, DropNewest}
	}
	if chance(3) {
		c.PeerBacklogBytes = 2000 + rng.IntN(6000)
	}
	if chance(4) {
		c.MaxStreams = 1 + rng.IntN(2)
	}
	if chance(3) {
		c.BudgetBytes = 64*dedupEntryBytes + 4000 + rng.IntN(30000)
	}
	if chance(4) {
		c.MaxTopics = 2 + rng.IntN(3)
	}
	if chance(4) {
		c.DefaultTTL = time.Duration(1+rng.IntN(3)) * time.Second
	}
	if chance(3) {
		c.HeartbeatInterval = c.ReapInterval // ties between timers set in one step
	}
	w := newTwin(t, func(cfg *Config) {
		rand := cfg.Rand // each node its own source, seeded alike
		*cfg = c
		cfg.Rand = rand
	})
	topics := []string{"a", "b", "c/d", "e", "a/+"} // the last is refused
	patterns := []string{"a", "b", "c/+", "#", "e"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }

	// Peers: some die (their chains keep what they miss), some live.
	live := map[string][]string{}
	sync := func(id string) {
		pats := []string{pick(patterns), pick(patterns)}
		w.both("sync "+id, func(h *harness) []Effect { h.sync(id, pats...); return nil })
		live[id] = pats
	}
	for i := range rng.IntN(3) {
		sync(fmt.Sprint("d", i))
	}
	if len(live) > 0 && chance(2) {
		w.both("silence", func(h *harness) []Effect { return h.advance(3100 * time.Millisecond) })
		for _, p := range of[*Probe](w.batched.effs) {
			w.step(&ProbeCompleted{Call: p.Call, Err: errTest})
		}
		w.both("deaths", func(h *harness) []Effect { return h.advance(2 * time.Second) })
		clear(live)
	}
	for i := range rng.IntN(3) {
		sync(fmt.Sprint("p", i))
	}

	// Subscriptions.
	var streams []uint64
	for i := range rng.IntN(5) {
		stream := uint64(i + 1)
		req := &Subscribed{Stream: stream, Patterns: []string{pick(patterns), pick(patterns)}, QueueLimit: rng.IntN(10),
			Policy: policies[rng.IntN(len(policies))], Credit: rng.IntN(4), ByNumber: chance(2), ReportsSent: chance(2)}
		if chance(2) { // room for runs
			req.Credit, req.QueueLimit = 20+rng.IntN(100), 10+rng.IntN(100)
		}
		if chance(3) {
			req.CreditBytes = 50 + rng.IntN(500)
		}
		w.step(req)
		streams = append(streams, stream)
		if chance(5) {
			w.step(&Unsubscribed{Req: 9000 + stream, SubID: w.batched.n.streams[stream].id, Pause: true})
		}
	}

	req := uint64(0)
	topic := pick(topics)
	for range 6 {
		size, switches, rare, payload := 1+rng.IntN(30), 4, 1, 240
		if chance(3) {
			// Past a slab, on few topics, mostly valid and plain: a
			// run's messages are made 32 at a time, and only a stretch
			// of valid publishes to one topic makes them.
			size, switches, rare, payload = runMsgsPerSlab+rng.IntN(2*runMsgsPerSlab), 40, 8, 150
		}
		pubs := make([]Published, size)
		for i := range pubs {
			if chance(switches) {
				topic = pick(topics)
			}
			req++
			p := Published{Req: req, Topic: topic, Payload: make([]byte, rng.IntN(payload))}
			switch {
			case chance(20 * rare):
				p.Retain = true
			case chance(10 * rare):
				p.TTLMs = -1
			case chance(5):
				p.TTLMs = 500 + rng.Int64N(3000)
			case chance(30 * rare):
				p.Extras = &Extras{ContentType: strings.Repeat("x", 300)}
			}
			pubs[i] = p
		}
		effs := w.frame(pubs)

		// Pushes complete, fail, or stay in flight; streams get credit;
		// time passes; live peers beacon.
		for _, p := range of[*Push](effs) {
			switch rng.IntN(10) {
			case 0, 1:
				w.step(&PushCompleted{Call: p.Call, Err: errTest})
			case 2:
			default:
				w.step(&PushCompleted{Call: p.Call})
			}
		}
		for _, s := range streams {
			if chance(2) {
				w.step(&CreditGranted{Stream: s, N: rng.IntN(6), Bytes: rng.IntN(400)})
			}
		}
		d := time.Duration(rng.IntN(600)) * time.Millisecond
		w.both("advance", func(h *harness) []Effect { return h.advance(d) })
		for _, id := range sortedKeys(live) {
			w.both("beacon "+id, func(h *harness) []Effect { return h.beacon(id, id+":5671", TopicStateHash(live[id])) })
		}
		w.same()
	}
	// Drain: what the queues and links hold comes out alike.
	for _, s := range streams {
		w.step(&CreditGranted{Stream: s, N: 1000, Bytes: 1 << 20})
	}
	w.both("drain", func(h *harness) []Effect { return h.advance(10 * time.Second) })
	w.same()
	return w.runs
}

// A run's messages are made apart from lone publishes' (allocated a slab
// at a time): they carry every field a lone publish's message does.
func TestBatchMessagesAreWholeMessages(t *testing.T) {
	w := newTwin(t, func(c *Config) { c.DefaultTTL = time.Minute })
	w.both("subscribe", func(h *harness) []Effect { h.subscribe(1, 1000, "#"); return h.effs })
	var pubs []Published
	for i := range 2*msgsPerSlab + 3 { // past a slab, then part of one
		pubs = append(pubs, Published{Req: uint64(i + 1), Topic: "a/b", Payload: []byte{byte(i)},
			Extras: &Extras{ContentType: "text/x", Correlation: fmt.Sprint("c", i)}, TTLMs: int64(i % 3 * 1000)})
	}
	effs := w.frame(pubs) // the same effects from both, checked there
	batched, alone := of[*Deliver](effs), of[*Deliver](w.alone.all[len(w.alone.all)-len(effs):])
	if len(batched) != len(pubs) || len(alone) != len(pubs) {
		t.Fatalf("%d delivered batched, %d alone, want %d each", len(batched), len(alone), len(pubs))
	}
	for i := range pubs {
		a, b := batched[i].Out.Msg, alone[i].Out.Msg
		if !reflect.DeepEqual(a.Envelope, b.Envelope) || a.Seq != b.Seq || a.ExpiresMs != b.ExpiresMs {
			t.Fatalf("message %d: batched %+v seq=%d exp=%d, alone %+v seq=%d exp=%d", i, a.Envelope, a.Seq, a.ExpiresMs, b.Envelope, b.Seq, b.ExpiresMs)
		}
		if publishedCost(&pubs[i]) != a.cost() {
			t.Fatalf("message %d costs %d, its publish %d", i, a.cost(), publishedCost(&pubs[i]))
		}
		if a.Correlation() != pubs[i].Extras.Correlation || a.ContentType() != "text/x" || a.Source != "n1" {
			t.Fatalf("message %d: %+v", i, a.Envelope)
		}
	}
}

// A run's messages share their topic's own name, whatever string each
// publish brought: a shell that copies a frame's topic table per frame
// keeps one string per topic alive, not one per frame, and a packed
// encoder that compares topics by address (packed.Encoder.StableStrings)
// finds each the same as the last.
func TestRunMessagesShareTheirTopicsName(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 1000, "#")
	for frame := range 3 {
		topic := strings.Clone("a/b") // as each packed frame's topic table is
		var pubs []Published
		for i := range 4 {
			pubs = append(pubs, Published{Req: uint64(frame*4 + i + 1), Topic: topic, Payload: []byte{byte(i)}})
		}
		h.n.Step(h.now, &PublishedBatch{Pubs: pubs, ByNumber: true})
	}
	name := h.n.topics.get("a/b").name
	ring := &h.n.topics.get("a/b").ring
	if ring.len() != 12 {
		t.Fatalf("%d messages ringed, want 12", ring.len())
	}
	for i := range ring.len() {
		if m := ring.at(i); unsafe.StringData(m.Topic) != unsafe.StringData(name) {
			t.Fatalf("message %d's topic is a string of its own, not its topic's name", i)
		}
	}
}
