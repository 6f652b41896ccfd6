package state

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestDeliveryModelAccounts drives one node's subscriptions (queue limits
// of 1 to 5, every policy) with random publishes (some with a TTL), credit
// grants, pauses, resumes that replay from the last sequences seen, closes
// and time, and checks after every step that:
//
//   - per subscription and topic, sequence numbers strictly increase across
//     live and replay, over all its streams: no duplicate, no reordering;
//   - nothing is delivered without credit: the node's credit is exactly
//     what was granted minus what was delivered, and never negative;
//   - a queue never holds more than its limit, plus BlockedLimit waiting
//     publishes under the block policy;
//   - no expired message is delivered, nothing published before a
//     subscription started reaches it, and every publish is answered once,
//     within BlockTimeout;
//   - warnings never report more than the subscription's totals, and never
//     go backwards.
//
// And it checks the accounting of every stream (an epoch: from subscribe
// or resume to pause, close, takeover or the end) that ends with nothing
// but live messages left, which the end of the test ensures:
//
//	offered + backlog = live + replayed + dropped + expired + queued + missed
//
// offered counts the matching publishes while the stream was attached;
// backlog, for a resume, counts per topic the messages after the last
// sequence the client saw (or, for a topic it never saw, since the
// subscription started); dropped and expired are the growth of the
// subscription's totals during the epoch (an expired replay counts there);
// queued is what the stream held when it ended; missed is the resume's
// SubscriptionInfo.Missed. When Missed is -1 (unknown) the model checks
// that something was indeed lost on a topic the resume did not list.
// A replay is a suffix of the unseen messages still live at the resume, in
// order; it must include those among the topic's newest MessageBufferSize
// (the ring surely holds them) unless they expired before their turn, and
// replay_complete counts what was replayed.
//
// The naive total over a subscription's life (received = published -
// dropped - expired - missed) does not balance, by design: Dropped and
// Expired are totals since the subscription started, and Missed counts
// what a resume cannot replay after the client's last sequence, so a
// message dropped from the queue and later replayed is counted dropped and
// received, and one dropped and then evicted from the ring is counted
// dropped and missed. Per epoch the accounting is exact; over the whole
// life the model checks that no loss went unreported to the client: what
// it lost is at most the totals of its last warning plus the Missed of
// every info it received.
func TestDeliveryModelAccounts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newDeliveryModel(t)
		modelRun(t, 4, []modelAction{
			{"subscribe", 2, m.subscribe},
			{"credit", 6, m.credit},
			{"publish", 8, m.publish},
			{"pause", 2, m.pause},
			{"resume", 2, m.resume},
			{"close", 1, m.close},
			{"advance", 4, m.advance},
		}, m.check)
		m.settle(t)
	})
}

var (
	deliveryTopics   = []string{"a/x", "a/y", "b/x", "b/y/z"}
	deliveryPatterns = []string{"#", "+/x", "a/#", "a/+", "a/x", "b/+", "b/y/z"}
	deliveryPolicies = []Policy{DropOldest, DropNewest, Block}
)

// dPub is one local publish and the message it made.
type dPub struct {
	req       uint64
	id        string // learned from its first delivery or its answer
	topic     string
	seq       uint64
	index     uint64 // arrival order on the node: publishes so far
	expiresMs int64
	at        time.Duration
	wantSubs  int // active matching subscriptions when published
	done      bool
}

func (p *dPub) expired(wallMs int64) bool { return p.expiresMs != 0 && wallMs >= p.expiresMs }

// dEpoch is one stream of a subscription.
type dEpoch struct {
	stream       uint64
	credit       int // granted minus delivered
	startDropped uint64
	startExpired uint64
	offered      int // matching publishes while this stream was attached
	live, replay int
	counts       map[string]int // replay_complete counts by topic
	lastWarn     *Warning

	// A resume's plan, as the model sees it when the resume is handled.
	resumed  bool
	given    map[string]uint64 // the last sequences the resume passed
	gotInfo  bool
	missed   int
	backlog  map[string]int      // unseen messages per topic
	cands    map[string][]*dPub  // unseen messages still live, by sequence
	heads    map[string]uint64   // each topic's sequence at the resume
	replayed map[string][]uint64 // what this stream replayed, per topic
}

type dSub struct {
	id       string
	patterns []string
	limit    int
	policy   Policy
	created  uint64 // publishes before it started
	pausedAt time.Duration
	lastSeq  map[string]uint64
	received map[string]int // messages received per topic, all streams

	delivered     uint64 // live and replay, all streams
	warnedDropped uint64
	warnedExpired uint64
	toldMissed    int     // Missed of every info delivered; -1 once one said "unknown"
	ep            *dEpoch // nil while paused
}

type deliveryModel struct {
	t   *rapid.T
	d   *modelNode
	cfg Config

	subs       map[string]*dSub
	streams    map[uint64]*dSub
	nextStream uint64
	pubs       []*dPub
	byReq      map[uint64]*dPub
	byTopic    map[string][]*dPub
	req        uint64
	unsubs     []CompleteUnsubscribe
	ends       []uint64
}

func newDeliveryModel(t *rapid.T) *deliveryModel {
	seed := rapid.Uint64().Draw(t, "seed")
	m := &deliveryModel{
		t:       t,
		subs:    map[string]*dSub{},
		streams: map[uint64]*dSub{},
		byReq:   map[uint64]*dPub{},
		byTopic: map[string][]*dPub{},
	}
	m.d = newModelNode(t, "n0", seed, func(c *Config) {
		c.MessageBufferSize = 4    // rings overflow within a test
		c.ReplayLimitPerResume = 6 // and so does a resume's budget
		c.BlockedLimit = 3
		c.BlockTimeout = 2 * time.Second
		c.PausedTTL = 8 * time.Second
	})
	m.cfg = m.d.n.Config()
	m.d.handle = m.handle
	m.d.start()
	return m
}

func (m *deliveryModel) step(ev Event) {
	m.unsubs, m.ends = nil, nil
	m.d.step(ev)
}

func (m *deliveryModel) handle(effs []Effect) {
	t := m.t
	for _, e := range effs {
		switch e := e.(type) {
		case *SendBeacon:
		case *Deliver:
			s := m.streams[e.Stream]
			if s == nil {
				t.Fatalf("deliver on stream %d, which is not open", e.Stream)
			}
			m.onDeliver(s, e.Out)
		case *CompletePublish:
			p := m.byReq[e.Req]
			switch {
			case p == nil || p.done:
				t.Fatalf("publish %d answered again or unknown", e.Req)
			case e.Err != nil:
				t.Fatalf("publish %d refused: %v", e.Req, e.Err)
			case e.Result.Subscribers != p.wantSubs:
				t.Fatalf("publish %d reached %d subscriptions, want %d", e.Req, e.Result.Subscribers, p.wantSubs)
			case p.id != "" && p.id != e.Result.MessageID:
				t.Fatalf("publish %d answered id %s, delivered as %s", e.Req, e.Result.MessageID, p.id)
			}
			p.id = e.Result.MessageID
			p.done = true
		case *CompleteUnsubscribe:
			m.unsubs = append(m.unsubs, *e)
		case *EndStream:
			if m.streams[e.Stream] == nil || e.Err != nil {
				t.Fatalf("end of stream %d: open %v, err %v", e.Stream, m.streams[e.Stream] != nil, e.Err)
			}
			delete(m.streams, e.Stream)
			m.ends = append(m.ends, e.Stream)
		case *ReportGap:
			if e.From == 0 || e.From > e.To {
				t.Fatalf("gap report with an empty or bad range: %s", e)
			}
		default:
			t.Fatalf("unexpected effect %s", e)
		}
	}
}

func (m *deliveryModel) onDeliver(s *dSub, o Out) {
	t := m.t
	ep := s.ep
	ep.credit--
	if ep.credit < 0 {
		t.Fatalf("%s delivered on stream %d without credit", o, ep.stream)
	}
	switch o.Kind {
	case OutInfo:
		if !slices.Equal(o.Info.Patterns, s.patterns) || s.id != "" && o.Info.SubID != s.id {
			t.Fatalf("info %+v for %s %v", o.Info, s.id, s.patterns)
		}
		if ep.resumed {
			if o.Info.GapDetected != (o.Info.Missed != 0) {
				t.Fatalf("info gap %v with missed %d", o.Info.GapDetected, o.Info.Missed)
			}
			ep.missed = o.Info.Missed
			if ep.missed == -1 || s.toldMissed == -1 {
				s.toldMissed = -1
			} else {
				s.toldMissed += ep.missed
			}
		}
		ep.gotInfo = true
	case OutMessage, OutReplay:
		m.onMessage(s, o.Msg)
		s.delivered++
		if o.Kind == OutMessage {
			ep.live++
		} else {
			if !ep.resumed {
				t.Fatalf("replay on a stream that did not resume")
			}
			ep.replay++
			ep.replayed[o.Msg.Topic] = append(ep.replayed[o.Msg.Topic], o.Msg.Seq)
		}
	case OutReplayComplete:
		d := o.Done
		if _, dup := ep.counts[d.Topic]; dup || !ep.resumed {
			t.Fatalf("replay-complete %s again, or without a resume", d.Topic)
		}
		if d.Latest != ep.heads[d.Topic] {
			t.Fatalf("replay-complete %s latest %d, the topic was at %d", d.Topic, d.Latest, ep.heads[d.Topic])
		}
		ep.counts[d.Topic] = d.Count
	case OutWarning:
		w := o.Warning
		if w.Dropped < s.warnedDropped || w.Expired < s.warnedExpired || w.Limit != s.limit || w.Lost != 0 {
			t.Fatalf("warning %+v after warning totals %d/%d (limit %d)", w, s.warnedDropped, s.warnedExpired, s.limit)
		}
		s.warnedDropped, s.warnedExpired = w.Dropped, w.Expired
		c := *w
		ep.lastWarn = &c
	case OutHeartbeat:
	default:
		t.Fatalf("unexpected %s", o)
	}
}

func (m *deliveryModel) onMessage(s *dSub, msg *Message) {
	t := m.t
	pubs := m.byTopic[msg.Topic]
	if msg.Seq < 1 || msg.Seq > uint64(len(pubs)) {
		t.Fatalf("%s seq %d: only %d published", msg.Topic, msg.Seq, len(pubs))
	}
	p := pubs[msg.Seq-1]
	if p.id != "" && p.id != msg.ID {
		t.Fatalf("%s seq %d is %s, was %s", msg.Topic, msg.Seq, msg.ID, p.id)
	}
	p.id = msg.ID
	switch {
	case !modelMatchAny(s.patterns, msg.Topic):
		t.Fatalf("%s delivered to %v", msg.Topic, s.patterns)
	case p.index <= s.created:
		t.Fatalf("%s seq %d was published before subscription %s started", msg.Topic, msg.Seq, s.id)
	case p.expired(m.d.now.WallMs):
		t.Fatalf("%s seq %d delivered %dms after it expired", msg.Topic, msg.Seq, m.d.now.WallMs-p.expiresMs)
	case msg.Seq <= s.lastSeq[msg.Topic]:
		t.Fatalf("%s seq %d delivered after seq %d", msg.Topic, msg.Seq, s.lastSeq[msg.Topic])
	}
	s.lastSeq[msg.Topic] = msg.Seq
	s.received[msg.Topic]++
}

func (m *deliveryModel) status(id string) SubscriptionStatus {
	for _, ss := range m.d.n.Subscriptions() {
		if ss.ID == id {
			return ss
		}
	}
	m.t.Fatalf("subscription %s is gone", id)
	return SubscriptionStatus{}
}

func (m *deliveryModel) active() []string {
	var out []string
	for _, id := range modelKeys(m.subs) {
		if m.subs[id].ep != nil {
			out = append(out, id)
		}
	}
	return out
}

func (m *deliveryModel) newEpoch(s *dSub, credit int) {
	m.nextStream++
	ss := SubscriptionStatus{}
	if s.id != "" {
		ss = m.status(s.id)
	}
	s.ep = &dEpoch{stream: m.nextStream, credit: credit, startDropped: ss.Dropped, startExpired: ss.Expired,
		counts: map[string]int{}, replayed: map[string][]uint64{}}
	m.streams[m.nextStream] = s
}

// Actions.

func (m *deliveryModel) subscribe(t *rapid.T) {
	pats := rapid.SliceOfN(rapid.SampledFrom(deliveryPatterns), 1, 2).Draw(t, "patterns")
	s := &dSub{
		patterns: modelSet(pats),
		limit:    rapid.IntRange(1, 5).Draw(t, "limit"),
		policy:   rapid.SampledFrom(deliveryPolicies).Draw(t, "policy"),
		created:  uint64(len(m.pubs)),
		lastSeq:  map[string]uint64{},
		received: map[string]int{},
	}
	credit := rapid.IntRange(0, 3).Draw(t, "credit")
	m.newEpoch(s, credit)
	m.step(&Subscribed{Stream: s.ep.stream, Patterns: pats, QueueLimit: s.limit, Policy: s.policy, Credit: credit})
	for _, ss := range m.d.n.Subscriptions() {
		if ss.Stream == s.ep.stream {
			s.id = ss.ID
		}
	}
	if s.id == "" {
		t.Fatalf("subscribe %v: no subscription on stream %d", pats, s.ep.stream)
	}
	m.subs[s.id] = s
}

func (m *deliveryModel) credit(t *rapid.T) {
	active := m.active()
	if len(active) == 0 {
		t.Skip("no active subscription")
	}
	s := m.subs[rapid.SampledFrom(active).Draw(t, "sub")]
	n := rapid.IntRange(1, 4).Draw(t, "n")
	s.ep.credit += n
	m.step(&CreditGranted{Stream: s.ep.stream, N: n})
}

func (m *deliveryModel) publish(t *rapid.T) {
	topic := rapid.SampledFrom(deliveryTopics).Draw(t, "topic")
	var ttl int64
	if rapid.IntRange(0, 2).Draw(t, "hasTTL") == 0 {
		ttl = int64(rapid.IntRange(50, 3000).Draw(t, "ttlMs"))
	}
	m.req++
	p := &dPub{req: m.req, topic: topic, seq: uint64(len(m.byTopic[topic]) + 1), index: uint64(len(m.pubs) + 1), at: m.d.now.Mono}
	if ttl > 0 {
		p.expiresMs = m.d.now.WallMs + ttl
	}
	for _, id := range m.active() {
		if s := m.subs[id]; modelMatchAny(s.patterns, topic) {
			s.ep.offered++
			p.wantSubs++
		}
	}
	m.pubs = append(m.pubs, p)
	m.byReq[p.req] = p
	m.byTopic[topic] = append(m.byTopic[topic], p)
	m.step(&Published{Req: p.req, Topic: topic, Payload: []byte("m"), TTLMs: ttl})
}

// endEpoch checks a stream's accounting just before it ends (or at the
// end of the test). It needs the stream to have handed out everything but
// live messages; otherwise the replay it planned is not known yet.
func (m *deliveryModel) endEpoch(s *dSub, why string) {
	ss := m.status(s.id)
	if ss.Pending != 0 {
		m.t.Logf("stream %d of %s ends (%s) with %d events pending: its accounting is not checked", s.ep.stream, s.id, why, ss.Pending)
	} else {
		m.checkEpoch(s, ss)
	}
}

func (m *deliveryModel) checkEpoch(s *dSub, ss SubscriptionStatus) {
	t := m.t
	ep := s.ep
	backlog := 0
	lostUnlisted := false // a topic the resume did not list lost messages
	if ep.resumed {
		if !ep.gotInfo {
			t.Fatalf("stream %d: nothing pending, but no info came", ep.stream)
		}
		// Budget left for a topic is at least the limit less every
		// earlier topic's live unseen messages.
		budget := m.cfg.ReplayLimitPerResume
		for _, topic := range modelKeys(ep.backlog) {
			cands, got := ep.cands[topic], ep.replayed[topic]
			backlog += ep.backlog[topic]
			if count, ok := ep.counts[topic]; ok && count != len(got) || !ok && len(got) > 0 {
				t.Fatalf("%s: replay-complete count %d (sent %v), but %d replayed", topic, count, ok, len(got))
			}
			replayed := map[uint64]bool{}
			for _, seq := range got {
				replayed[seq] = true
			}
			inCands := 0
			for _, p := range cands {
				if replayed[p.seq] {
					inCands++
				}
				// The ring still holds the live unseen messages among
				// the topic's newest MessageBufferSize: each is replayed
				// unless it expired before its turn.
				newest := p.seq+uint64(m.cfg.MessageBufferSize) > ep.heads[topic]
				if newest && budget >= len(cands) && !replayed[p.seq] && !p.expired(m.d.now.WallMs) {
					t.Fatalf("%s: seq %d, live and in the ring, was not replayed (replayed %v)", topic, p.seq, got)
				}
			}
			if inCands != len(got) {
				t.Fatalf("%s: replayed %v, which are not all unseen and live at the resume", topic, got)
			}
			budget = max(budget-len(cands), 0)
			if _, given := ep.given[topic]; !given && ep.backlog[topic] > len(got) {
				lostUnlisted = true
			}
		}
	}
	// Every message the stream was offered live, and every message the
	// resume had to catch up on, is received, dropped, expired, still
	// queued, or (catch-up only) reported missed.
	dropped, expired := int(ss.Dropped-ep.startDropped), int(ss.Expired-ep.startExpired)
	in := ep.offered + backlog
	out := ep.live + ep.replay + dropped + expired + ss.Queued
	switch {
	case ep.missed == -1 && !(lostUnlisted && in > out):
		t.Fatalf("stream %d of %s: resume said missed unknown, but nothing is missing: offered %d + backlog %d = live %d + replayed %d + dropped %d + expired %d + queued %d",
			ep.stream, s.id, ep.offered, backlog, ep.live, ep.replay, dropped, expired, ss.Queued)
	case ep.missed != -1 && in != out+ep.missed:
		t.Fatalf("stream %d of %s does not balance: offered %d + backlog %d (%v) != live %d + replayed %d + dropped %d + expired %d + queued %d + missed %d",
			ep.stream, s.id, ep.offered, backlog, ep.backlog, ep.live, ep.replay, dropped, expired, ss.Queued, ep.missed)
	}
}

func (m *deliveryModel) pause(t *rapid.T) {
	active := m.active()
	if len(active) == 0 {
		t.Skip("no active subscription")
	}
	s := m.subs[rapid.SampledFrom(active).Draw(t, "sub")]
	m.endEpoch(s, "pause")
	stream := s.ep.stream
	m.req++
	m.step(&Unsubscribed{Req: m.req, SubID: s.id, Pause: true})
	if len(m.unsubs) != 1 || m.unsubs[0].Err != nil || m.unsubs[0].PauseTTL != m.cfg.PausedTTL {
		t.Fatalf("pause answered %+v", m.unsubs)
	}
	if len(m.ends) != 1 || m.ends[0] != stream {
		t.Fatalf("pause of stream %d ended %v", stream, m.ends)
	}
	s.ep = nil
	s.pausedAt = m.d.now.Mono
}

func (m *deliveryModel) resume(t *rapid.T) {
	if len(m.subs) == 0 {
		t.Skip("no subscription")
	}
	s := m.subs[modelDrawKey(t, m.subs, "sub")]
	var old uint64
	if s.ep != nil {
		old = s.ep.stream
		m.endEpoch(s, "taken over by a resume")
	}
	credit := rapid.IntRange(0, 3).Draw(t, "credit")
	m.newEpoch(s, credit)
	ep := s.ep
	ep.resumed = true
	ep.given = map[string]uint64{}
	for k, v := range s.lastSeq {
		ep.given[k] = v
	}
	ep.backlog, ep.cands, ep.heads = map[string]int{}, map[string][]*dPub{}, map[string]uint64{}
	for _, topic := range modelKeys(m.byTopic) {
		if !modelMatchAny(s.patterns, topic) {
			continue
		}
		last, given := ep.given[topic]
		pubs := m.byTopic[topic]
		ep.heads[topic] = uint64(len(pubs))
		for _, p := range pubs {
			if given && p.seq <= last || !given && p.index <= s.created {
				continue
			}
			ep.backlog[topic]++
			if !p.expired(m.d.now.WallMs) {
				ep.cands[topic] = append(ep.cands[topic], p)
			}
		}
	}
	m.step(&Resumed{Stream: ep.stream, SubID: s.id, LastSeq: ep.given, Mode: RecoverReplay, Credit: credit})
	if old != 0 && (len(m.ends) != 1 || m.ends[0] != old) {
		t.Fatalf("resume took over stream %d but ended %v", old, m.ends)
	}
}

func (m *deliveryModel) close(t *rapid.T) {
	if len(m.subs) == 0 {
		t.Skip("no subscription")
	}
	s := m.subs[modelDrawKey(t, m.subs, "sub")]
	if s.ep != nil {
		m.endEpoch(s, "close")
		stream := s.ep.stream
		if rapid.Bool().Draw(t, "streamClosed") {
			m.step(&StreamClosed{Stream: stream})
		} else {
			m.req++
			m.step(&Unsubscribed{Req: m.req, SubID: s.id})
		}
		if len(m.ends) != 1 || m.ends[0] != stream {
			t.Fatalf("close of stream %d ended %v", stream, m.ends)
		}
	} else {
		m.req++
		m.step(&Unsubscribed{Req: m.req, SubID: s.id})
		if len(m.unsubs) != 1 || m.unsubs[0].Err != nil || len(m.ends) != 0 {
			t.Fatalf("unsubscribe of paused %s: %+v, ended %v", s.id, m.unsubs, m.ends)
		}
	}
	delete(m.subs, s.id)
}

func (m *deliveryModel) advance(t *rapid.T) {
	m.d.advance(time.Duration(rapid.IntRange(1, 1500).Draw(t, "ms")) * time.Millisecond)
}

// settle grants every stream ample credit and lets 3 s pass, then closes
// the books: every stream balances with nothing left queued or pending,
// the warnings told of the final totals, every publish is answered, and
// over each subscription's life no loss went unreported.
func (m *deliveryModel) settle(t *rapid.T) {
	t.Logf("-- settle")
	grant := func() {
		for _, id := range m.active() {
			s := m.subs[id]
			s.ep.credit += 10000
			m.step(&CreditGranted{Stream: s.ep.stream, N: 10000})
		}
	}
	grant()
	m.d.advance(3 * time.Second)
	m.check(t)
	for _, p := range m.pubs {
		if !p.done {
			t.Fatalf("publish %d never answered", p.req)
		}
	}
	for _, id := range m.active() {
		s := m.subs[id]
		ss := m.status(id)
		if ss.Queued != 0 || ss.Pending != 0 {
			t.Fatalf("%s: %d queued, %d pending after ample credit", id, ss.Queued, ss.Pending)
		}
		m.checkEpoch(s, ss)
		// Every loss was warned of, on whichever stream it happened.
		if s.warnedDropped != ss.Dropped || s.warnedExpired != ss.Expired {
			t.Fatalf("%s lost %d dropped, %d expired; its warnings told of %d and %d (the last on this stream: %+v)",
				id, ss.Dropped, ss.Expired, s.warnedDropped, s.warnedExpired, s.ep.lastWarn)
		}
		if s.toldMissed == -1 {
			continue
		}
		lost := 0
		for topic, pubs := range m.byTopic {
			if !modelMatchAny(s.patterns, topic) {
				continue
			}
			since := 0
			for _, p := range pubs {
				if p.index > s.created {
					since++
				}
			}
			lost += since - s.received[topic]
		}
		// What the client was told: the totals of the last warning it
		// got, and the missed counts of the infos it got.
		if told := int(s.warnedDropped+s.warnedExpired) + s.toldMissed; lost > told {
			t.Fatalf("%s lost %d messages, but was told of only %d (dropped %d, expired %d, missed %d)", id, lost, told, s.warnedDropped, s.warnedExpired, s.toldMissed)
		}
	}
}

// check is the invariant, run after every action.
func (m *deliveryModel) check(t *rapid.T) {
	now := m.d.now.Mono
	seen := map[string]bool{}
	for _, ss := range m.d.n.Subscriptions() {
		s := m.subs[ss.ID]
		if s == nil {
			t.Fatalf("unknown subscription %s", ss.ID)
		}
		seen[ss.ID] = true
		bound := s.limit
		if s.policy == Block {
			bound += m.cfg.BlockedLimit
		}
		switch {
		case ss.Limit != s.limit || ss.Policy != s.policy:
			t.Fatalf("%s: limit %d policy %s, want %d %s", s.id, ss.Limit, ss.Policy, s.limit, s.policy)
		case ss.Queued > bound:
			t.Fatalf("%s holds %d, its bound is %d (%s, limit %d)", s.id, ss.Queued, bound, s.policy, s.limit)
		case ss.Delivered != s.delivered:
			t.Fatalf("%s: delivered %d, the model saw %d", s.id, ss.Delivered, s.delivered)
		case ss.Dropped < s.warnedDropped || ss.Expired < s.warnedExpired:
			t.Fatalf("%s: totals %d/%d below those warned %d/%d", s.id, ss.Dropped, ss.Expired, s.warnedDropped, s.warnedExpired)
		case s.ep == nil && (!ss.Paused || ss.Stream != 0 || ss.Queued != 0):
			t.Fatalf("%s should be paused: %+v", s.id, ss)
		case s.ep == nil && now >= s.pausedAt+m.cfg.PausedTTL:
			t.Fatalf("%s still paused %s after its pause", s.id, now-s.pausedAt)
		case s.ep != nil && (ss.Paused || ss.Stream != s.ep.stream || ss.Credit != s.ep.credit):
			t.Fatalf("%s: stream %d credit %d paused %v, want stream %d credit %d", s.id, ss.Stream, ss.Credit, ss.Paused, s.ep.stream, s.ep.credit)
		}
	}
	for _, id := range modelKeys(m.subs) {
		if s := m.subs[id]; !seen[id] {
			if s.ep != nil || now < s.pausedAt+m.cfg.PausedTTL {
				t.Fatalf("subscription %s vanished (active %v, paused %s)", id, s.ep != nil, now-s.pausedAt)
			}
			delete(m.subs, id)
		}
	}
	for _, p := range m.pubs {
		if !p.done && now-p.at >= m.cfg.BlockTimeout {
			t.Fatalf("publish %d waits %s, longer than BlockTimeout", p.req, now-p.at)
		}
	}
}

// The delivery model found these two; each test is its shrunk case.

// TestResumeReportsLossOnTopicsItDoesNotList: a resume that lists no
// last sequence for a topic catches up on it from the subscription's
// start. Messages of that topic that already left the ring (evicted by
// its cap, or reaped after their TTL) cannot be replayed, and must show
// as a gap, as they do for a listed topic.
func TestResumeReportsLossOnTopicsItDoesNotList(t *testing.T) {
	t.Run("evicted", func(t *testing.T) {
		h := newHarness(t, "n0", func(c *Config) { c.MessageBufferSize = 2 })
		h.start()
		id := h.subscribe(1, 10, "a/#")
		h.step(&Unsubscribed{Req: 1, SubID: id, Pause: true})
		for i := 0; i < 3; i++ {
			h.publish("a/x", "m") // the ring keeps 2 and 3
		}
		effs := h.step(&Resumed{Stream: 2, SubID: id, Mode: RecoverReplay, Credit: 100})
		info := of[*Deliver](effs)[0].Out.Info
		if !info.GapDetected || info.Missed == 0 {
			t.Fatalf("seq 1 was evicted before it could be replayed, but the resume says %+v:\n%s", info, describe(effs))
		}
	})
	t.Run("reaped", func(t *testing.T) {
		h := newHarness(t, "n0")
		h.start()
		id := h.subscribe(1, 10, "a/#")
		h.step(&Unsubscribed{Req: 1, SubID: id, Pause: true})
		h.publish("a/x", "m", func(p *Published) { p.TTLMs = 100 })
		h.advance(2 * time.Second) // expired and reaped
		effs := h.step(&Resumed{Stream: 2, SubID: id, Mode: RecoverReplay, Credit: 100})
		info := of[*Deliver](effs)[0].Out.Info
		if !info.GapDetected || info.Missed == 0 {
			t.Fatalf("seq 1 expired while paused, but the resume says %+v:\n%s", info, describe(effs))
		}
	})
}

// TestResumeWarnsOfLossTheOldStreamNeverReported: a loss inside the
// warning interval waits for the interval to end; if the stream ends
// first, the resumed stream must still carry the warning.
func TestResumeWarnsOfLossTheOldStreamNeverReported(t *testing.T) {
	h := newHarness(t, "n0")
	h.start()
	h.step(&Subscribed{Stream: 1, Patterns: []string{"#"}, QueueLimit: 1, Policy: DropOldest})
	id := h.n.Subscriptions()[0].ID
	h.publish("a/x", "1")
	h.publish("a/x", "2", func(p *Published) { p.TTLMs = 50 }) // drops 1
	h.advance(50 * time.Millisecond)                           // 2 expires in the queue
	h.step(&CreditGranted{Stream: 1, N: 3})                    // info, warning dropped=1; 2 expires in the warning interval
	h.publish("a/x", "3")                                      // delivered: the client's last is 3
	h.step(&Unsubscribed{Req: 9, SubID: id, Pause: true})
	effs := h.step(&Resumed{Stream: 2, SubID: id, Mode: RecoverReplay, Credit: 100, LastSeq: map[string]uint64{"a/x": 3}})
	effs = append(effs, h.advance(5*time.Second)...)
	for _, d := range of[*Deliver](effs) {
		if w := d.Out.Warning; d.Out.Kind == OutWarning && w.Expired == 1 {
			return
		}
	}
	t.Fatalf("seq 2 expired unreported:\n%s", describe(effs))
}
