package state

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestRoutingModelAgrees drives one node and three peers played by the
// test with random subscriptions, pattern changes, beacons, fetches that
// succeed, fail or wait, pushes both ways, publishes and time, and checks
// after every step that:
//
//  1. the node's hash and Patterns() are those of its subscriptions'
//     patterns, active and paused;
//  2. a peer's Patterns are those of the last fetch from it, and a peer
//     reported synced holds exactly what its latest beacon advertised;
//     after a settle (every call answered, 2 s of quiet) every peer is
//     synced with its real current patterns;
//  3. a local publish reaches each peer whose fetched patterns match once
//     (pushed now or queued on its link), no other peer unless retained,
//     and each matching active subscription once;
//  4. no message id reaches one subscription twice, across its streams; a
//     message pushed in reaches exactly the matching active subscriptions
//     in that step, unless the node holds it behind a hole (it then asks
//     the peer, which the test answers from what it sent, and delivers it
//     later); after a settle nothing is held;
//  5. at most one fetch is in flight per peer, at most MaxFetchesInFlight
//     in all, and at most one per FetchInterval per peer;
//  6. nothing a peer pushed in is ever pushed on: every routed Push carries
//     a message published on this node, and is repeated only after a
//     failure; a sync-only Push (retained replication) carries a retained
//     value the node holds, once per successful fetch of the peer; a peer
//     back from the dead gets exactly what was queued for it when it died
//     and what it wanted meanwhile (by its last fetched patterns), and
//     those patterns route to it again until its state is fetched anew.
func TestRoutingModelAgrees(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newRoutingModel(t)
		modelRun(t, 4, []modelAction{
			{"subscribe", 3, m.subscribe},
			{"unsubscribe", 2, m.unsubscribe},
			{"closeStream", 1, m.closeStream},
			{"resume", 2, m.resume},
			{"peerPatterns", 3, m.peerPatterns},
			{"peerBeacon", 4, m.peerBeacon},
			{"fetchDone", 4, m.fetchDone},
			{"probeDone", 1, m.probeDone},
			{"pushDone", 4, m.pushDone},
			{"resendDone", 2, m.resendDone},
			{"pushIn", 3, m.pushIn},
			{"publish", 6, m.publish},
			{"advance", 3, m.advance},
			{"stateRequest", 1, m.stateRequest},
			{"settle", 1, m.settle},
		}, m.check)
	})
}

const (
	routeNodeID = "n0"
	routeCredit = 1 << 20 // routing subscriptions never run short of credit
)

// linkKey is one thing a link carries: a routed message, or a retained
// value sent to a peer whose fetched state lacked it.
type linkKey struct {
	id   string
	sync bool
}

// linkEntry counts a message on a link. A routed message is there at most
// once and, once taken, never again; a retained value is sent once per
// fetch that finds the peer lacking it, so it may be there more than once.
type linkEntry struct {
	queued, inFlight int
	done             bool
}

// routePeer is one peer as the test plays it, and what the node should
// believe about it.
type routePeer struct {
	id, addr string
	current  []string // what the peer holds now
	beaconed []string // what its latest beacon to the node advertised

	present     bool          // known to the node: from a beacon until a ClosePeer
	lastHeard   time.Duration // its latest beacon or probe answer
	inc         int           // the node's incarnation of it; a ClosePeer ends one
	fetched     []string      // patterns of the last fetch the node applied
	everFetched bool
	fetchIssued bool
	lastFetch   time.Duration
	link        map[linkKey]*linkEntry // our messages for this incarnation

	// While it is dead: what the node keeps for its return.
	departed         bool
	departedPatterns []string
	missed           map[linkKey]int

	seq     map[string]uint64 // its own per-topic numbering
	sent    []Envelope        // everything it pushed, for repeats
	nextMsg int
}

func (p *routePeer) synced() bool {
	return p.everFetched && TopicStateHash(p.fetched) == TopicStateHash(p.beaconed)
}

func (p *routePeer) linkCounts() (inFlight, backlog int) {
	for _, e := range p.link {
		inFlight += e.inFlight
		backlog += e.queued
	}
	return inFlight, backlog
}

func (p *routePeer) entry(k linkKey) *linkEntry {
	e := p.link[k]
	if e == nil {
		e = &linkEntry{}
		p.link[k] = e
	}
	return e
}

type routeSub struct {
	id       string
	patterns []string // sorted, distinct
	stream   uint64   // 0 while paused
	lastSeq  map[string]uint64
	got      map[string]bool // message ids delivered, over all its streams
}

type peerCall struct {
	peer *routePeer
	inc  int
	key  linkKey // pushes
}

// routeStep is what the effects of one action did.
type routeStep struct {
	publishing bool
	pubID      string
	syncPeer   *routePeer      // a fetch of it completed: it gets our retained values
	returning  *routePeer      // back from the dead: it gets what it missed
	synced     map[string]bool // retained values pushed to syncPeer in this step
	delivers   map[uint64][]Out
	pushes     map[string][]string // peer -> message ids
	completes  []CompletePublish
	unsubs     []CompleteUnsubscribe
	ends       []uint64
	answers    int
	state      *NodeState
}

type routingModel struct {
	t *rapid.T
	d *modelNode

	peers      []*routePeer
	subs       map[string]*routeSub
	streams    map[uint64]*routeSub
	nextStream uint64
	fetches    map[uint64]peerCall
	probes     map[uint64]peerCall
	pushes     map[uint64]peerCall
	resends    map[uint64]*RequestResend
	localIDs   map[string]bool
	remoteSeen map[string]bool
	retained   map[string]string // topic -> id of our latest retained publish (clears too)
	req        uint64
	out        routeStep
}

func newRoutingModel(t *rapid.T) *routingModel {
	seed := rapid.Uint64().Draw(t, "seed")
	m := &routingModel{
		t:          t,
		subs:       map[string]*routeSub{},
		streams:    map[uint64]*routeSub{},
		fetches:    map[uint64]peerCall{},
		probes:     map[uint64]peerCall{},
		pushes:     map[uint64]peerCall{},
		resends:    map[uint64]*RequestResend{},
		localIDs:   map[string]bool{},
		remoteSeen: map[string]bool{},
		retained:   map[string]string{},
	}
	m.d = newModelNode(t, routeNodeID, seed, func(c *Config) {
		c.MaxFetchesInFlight = 2
		c.TombstoneTTL = time.Hour // clears stay in our state for the whole run
	})
	m.d.handle = m.handle
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("p%d", i)
		m.peers = append(m.peers, &routePeer{id: id, addr: id + ":5671", current: []string{},
			link: map[linkKey]*linkEntry{}, seq: map[string]uint64{}})
	}
	m.resetStep()
	m.d.start()
	return m
}

func (m *routingModel) resetStep() {
	m.out = routeStep{delivers: map[uint64][]Out{}, pushes: map[string][]string{}, synced: map[string]bool{}}
}

func (m *routingModel) step(ev Event) {
	m.resetStep()
	m.d.step(ev)
}

func (m *routingModel) peer(id string) *routePeer {
	for _, p := range m.peers {
		if p.id == id {
			return p
		}
	}
	m.t.Fatalf("effect names unknown peer %q", id)
	return nil
}

// patterns is what the node's own hash must cover: every pattern of every
// subscription, active or paused.
func (m *routingModel) patterns() []string {
	var all []string
	for _, s := range m.subs {
		all = append(all, s.patterns...)
	}
	return modelSet(all)
}

// handle checks and absorbs the effects of one Step or Tick.
func (m *routingModel) handle(effs []Effect) {
	t := m.t
	for _, e := range effs {
		switch e := e.(type) {
		case *SendBeacon:
			if want := TopicStateHash(m.patterns()); e.Hash != want {
				t.Fatalf("beacon hash %016x, want %016x for %v", e.Hash, want, m.patterns())
			}
		case *FetchState:
			m.onFetch(e)
		case *Probe:
			p := m.peer(e.Peer)
			if !p.present {
				t.Fatalf("probe of %s, which the node removed", p.id)
			}
			m.probes[e.Call] = peerCall{peer: p, inc: p.inc}
		case *Push:
			m.onPush(e)
		case *ClosePeer:
			p := m.peer(e.Peer)
			if !p.present {
				t.Fatalf("close of %s, which is not known", p.id)
			}
			// Dead (peers here never change address, so never replaced):
			// what waited on its link, and what was in flight to it (it may
			// never have arrived), is kept for its return, with its routes,
			// and so is what it wants meanwhile.
			p.present, p.departed = false, true
			p.departedPatterns = p.fetched
			if p.missed == nil {
				p.missed = map[linkKey]int{}
			}
			for k, en := range p.link {
				p.missed[k] += en.queued + en.inFlight
			}
			p.inc++
			p.fetched, p.everFetched, p.fetchIssued = nil, false, false
			p.link = map[linkKey]*linkEntry{}
		case *AnswerState:
			m.out.state = e.State
		case *AnswerPush:
			if e.Errs != nil {
				t.Fatalf("push refused: %v", e.Errs)
			}
			m.out.answers++
		case *CompletePublish:
			m.out.completes = append(m.out.completes, *e)
		case *CompleteUnsubscribe:
			m.out.unsubs = append(m.out.unsubs, *e)
		case *RequestResend:
			p := m.peer(e.Peer)
			if !p.present || e.Addr != p.addr {
				t.Fatalf("resend from %s: present %v", p.id, p.present)
			}
			for _, r := range m.resends {
				if r.Peer == e.Peer && r.Topic == e.Topic {
					t.Fatalf("second resend of %s from %s in flight", e.Topic, e.Peer)
				}
			}
			c := *e
			m.resends[e.Call] = &c
		case *Deliver:
			s := m.streams[e.Stream]
			if s == nil {
				t.Fatalf("deliver on stream %d, which is not open", e.Stream)
			}
			m.onDeliver(s, e.Out)
			m.out.delivers[e.Stream] = append(m.out.delivers[e.Stream], e.Out)
		case *EndStream:
			s := m.streams[e.Stream]
			if s == nil || e.Err != nil {
				t.Fatalf("end of stream %d (open: %v) err %v", e.Stream, s != nil, e.Err)
			}
			delete(m.streams, e.Stream)
			if s.stream == e.Stream {
				s.stream = 0
			}
			m.out.ends = append(m.out.ends, e.Stream)
		case *ReportGap:
			if e.From == 0 || e.From > e.To {
				t.Fatalf("gap report with an empty or bad range: %s", e)
			}
		default:
			t.Fatalf("unexpected effect %s", e)
		}
	}
}

func (m *routingModel) onFetch(e *FetchState) {
	t := m.t
	p := m.peer(e.Peer)
	switch {
	case !p.present || e.Addr != p.addr:
		t.Fatalf("fetch from %s at %s: present %v, addr %s", p.id, e.Addr, p.present, p.addr)
	case p.synced():
		t.Fatalf("fetch from %s, which is synced", p.id)
	case len(m.fetches) >= m.d.n.Config().MaxFetchesInFlight:
		t.Fatalf("fetch from %s: %d already in flight, the limit is %d", p.id, len(m.fetches), m.d.n.Config().MaxFetchesInFlight)
	case p.fetchIssued && m.d.now.Mono < p.lastFetch+m.d.n.Config().FetchInterval:
		t.Fatalf("fetch from %s %s after the last one", p.id, m.d.now.Mono-p.lastFetch)
	}
	for _, c := range m.fetches {
		if c.peer == p && c.inc == p.inc {
			t.Fatalf("second fetch from %s in flight", p.id)
		}
	}
	p.fetchIssued, p.lastFetch = true, m.d.now.Mono
	m.fetches[e.Call] = peerCall{peer: p, inc: p.inc}
}

// noteLocal learns the id of the message a local publish under way made.
func (m *routingModel) noteLocal(msg *Message) {
	if m.out.publishing && m.out.pubID == "" && msg.Source == routeNodeID && !m.localIDs[msg.ID] {
		m.out.pubID = msg.ID
		m.localIDs[msg.ID] = true
	}
}

func (m *routingModel) onPush(e *Push) {
	t := m.t
	p := m.peer(e.Peer)
	if !p.present || e.Addr != p.addr {
		t.Fatalf("push to %s: present %v", p.id, p.present)
	}
	id := e.Msg.ID
	k := linkKey{id: id, sync: e.SyncOnly}
	en := p.entry(k)
	if e.SyncOnly {
		// Retained replication: not a message for the peer, so not a hop.
		if !e.Msg.Retain || e.Msg.Source != routeNodeID || !m.localIDs[id] {
			t.Fatalf("sync push to %s of %s %s (retain %v, from %s): not one of our retained values", p.id, e.Msg.Topic, id, e.Msg.Retain, e.Msg.Source)
		}
	} else {
		m.noteLocal(e.Msg)
		if e.Msg.Source != routeNodeID || !m.localIDs[id] {
			t.Fatalf("push to %s of %s from %s: only our own publishes travel (one hop)", p.id, id, e.Msg.Source)
		}
		if e.Msg.SourceSeq > 0 && e.Prev >= e.Msg.SourceSeq {
			t.Fatalf("push to %s of %s#%d names %d as its predecessor", p.id, e.Msg.Topic, e.Msg.SourceSeq, e.Prev)
		}
	}
	switch {
	case m.out.returning == p && p.missed[k] > 0:
		p.missed[k]--
	case e.SyncOnly && m.out.syncPeer == p && !m.out.synced[id]:
		if m.retained[e.Msg.Topic] != id {
			t.Fatalf("sync push to %s of %s %s: our retained value there is %s", p.id, e.Msg.Topic, id, m.retained[e.Msg.Topic])
		}
		m.out.synced[id] = true
	case !e.SyncOnly && id == m.out.pubID && en.queued == 0 && en.inFlight == 0 && !en.done:
	case en.queued > 0:
		en.queued--
	default:
		t.Fatalf("push to %s of %s (sync %v), which it is not owed (queued %d, in flight %d, done %v)", p.id, id, e.SyncOnly, en.queued, en.inFlight, en.done)
	}
	en.inFlight++
	m.pushes[e.Call] = peerCall{peer: p, inc: p.inc, key: k}
	m.out.pushes[p.id] = append(m.out.pushes[p.id], id)
}

func (m *routingModel) onDeliver(s *routeSub, o Out) {
	t := m.t
	switch o.Kind {
	case OutInfo:
		if s.id != "" && s.id != o.Info.SubID {
			t.Fatalf("info for %s on the stream of %s", o.Info.SubID, s.id)
		}
		if !slices.Equal(o.Info.Patterns, s.patterns) {
			t.Fatalf("info patterns %v, want %v", o.Info.Patterns, s.patterns)
		}
		s.id = o.Info.SubID
	case OutMessage, OutReplay:
		msg := o.Msg
		m.noteLocal(msg)
		if s.got[msg.ID] {
			t.Fatalf("message %s delivered twice to subscription %s", msg.ID, s.id)
		}
		s.got[msg.ID] = true
		if !modelMatchAny(s.patterns, msg.Topic) {
			t.Fatalf("%s delivered to %v", msg.Topic, s.patterns)
		}
		if msg.Seq <= s.lastSeq[msg.Topic] {
			t.Fatalf("%s seq %d after seq %d", msg.Topic, msg.Seq, s.lastSeq[msg.Topic])
		}
		s.lastSeq[msg.Topic] = msg.Seq
	case OutReplayComplete, OutHeartbeat:
	case OutWarning:
		// Ample credit and no TTL: only a hole given up on is a loss.
		if w := o.Warning; w.Reason != "message_lost" || w.Dropped != 0 || w.Expired != 0 {
			t.Fatalf("unexpected %s", o)
		}
	default:
		t.Fatalf("unexpected %s: routing subscriptions have ample credit", o)
	}
}

// Actions.

func (m *routingModel) subscribe(t *rapid.T) {
	pats := modelDrawPatterns(t, "patterns", 3)
	m.nextStream++
	s := &routeSub{patterns: modelSet(pats), stream: m.nextStream, lastSeq: map[string]uint64{}, got: map[string]bool{}}
	m.streams[s.stream] = s
	m.step(&Subscribed{Stream: s.stream, Patterns: pats, Policy: PolicyDefault, Credit: routeCredit})
	if s.id == "" {
		t.Fatalf("subscribe %v: no info", pats)
	}
	m.subs[s.id] = s
}

func (m *routingModel) unsubscribe(t *rapid.T) {
	if len(m.subs) == 0 {
		t.Skip("no subscription")
	}
	s := m.subs[modelDrawKey(t, m.subs, "sub")]
	pause := rapid.Bool().Draw(t, "pause")
	active := s.stream
	m.req++
	m.step(&Unsubscribed{Req: m.req, SubID: s.id, Pause: pause})
	if len(m.out.unsubs) != 1 || m.out.unsubs[0].Err != nil {
		t.Fatalf("unsubscribe answered %v", m.out.unsubs)
	}
	if active != 0 && (len(m.out.ends) != 1 || m.out.ends[0] != active) || active == 0 && len(m.out.ends) != 0 {
		t.Fatalf("unsubscribe of stream %d ended %v", active, m.out.ends)
	}
	if !pause {
		delete(m.subs, s.id)
	}
}

func (m *routingModel) closeStream(t *rapid.T) {
	var active []string
	for _, id := range modelKeys(m.subs) {
		if m.subs[id].stream != 0 {
			active = append(active, id)
		}
	}
	if len(active) == 0 {
		t.Skip("no active subscription")
	}
	s := m.subs[rapid.SampledFrom(active).Draw(t, "sub")]
	m.step(&StreamClosed{Stream: s.stream})
	delete(m.subs, s.id)
	if s.stream != 0 {
		t.Fatalf("stream %d still open after close", s.stream)
	}
}

func (m *routingModel) resume(t *rapid.T) {
	if len(m.subs) == 0 {
		t.Skip("no subscription")
	}
	s := m.subs[modelDrawKey(t, m.subs, "sub")]
	last := make(map[string]uint64, len(s.lastSeq))
	for k, v := range s.lastSeq {
		last[k] = v
	}
	m.nextStream++
	s.stream = m.nextStream
	m.streams[s.stream] = s
	m.step(&Resumed{Stream: s.stream, SubID: s.id, LastSeq: last, Mode: RecoverReplay, Credit: routeCredit})
	if outs := m.out.delivers[s.stream]; len(outs) == 0 || outs[0].Kind != OutInfo {
		t.Fatalf("resume: no info first:\n%s", modelOuts(outs))
	}
}

func (m *routingModel) drawPeer(t *rapid.T) *routePeer {
	return m.peers[rapid.IntRange(0, len(m.peers)-1).Draw(t, "peer")]
}

func (m *routingModel) peerPatterns(t *rapid.T) {
	p := m.drawPeer(t)
	p.current = modelSet(rapid.SliceOfN(rapid.SampledFrom(modelPatterns), 0, 4).Draw(t, "peerPatterns"))
	t.Logf("%s now holds %v", p.id, p.current)
}

func (m *routingModel) beacon(p *routePeer) {
	returning := !p.present && p.departed
	p.present, p.departed = true, false
	if returning {
		// Back from the dead: its last known patterns route to it until a
		// fetch replaces them.
		p.fetched, p.departedPatterns = p.departedPatterns, nil
	}
	p.lastHeard = m.d.now.Mono
	p.beaconed = slices.Clone(p.current)
	m.resetStep()
	if returning {
		m.out.returning = p
	}
	m.d.step(&BeaconReceived{Beacon: Beacon{Instance: p.id, Cluster: "test", Addr: p.addr,
		Hash: TopicStateHash(p.current), Version: 1, WallMs: m.d.now.WallMs}})
	// What it missed and was not pushed at once waits on its link.
	for k, n := range p.missed {
		p.entry(k).queued += n
	}
	p.missed = nil
}

func (m *routingModel) peerBeacon(t *rapid.T) { m.beacon(m.drawPeer(t)) }

func (m *routingModel) completeFetch(call uint64, ok bool) {
	c := m.fetches[call]
	delete(m.fetches, call)
	p := c.peer
	ev := &FetchCompleted{Call: call, Err: errors.New("connection refused")}
	applies := ok && c.inc == p.inc && p.present
	if ok {
		ev = &FetchCompleted{Call: call, State: &NodeState{Instance: p.id, Patterns: slices.Clone(p.current), Hash: TopicStateHash(p.current)}}
		if applies {
			p.fetched = slices.Clone(p.current)
			p.everFetched = true
		}
	}
	m.resetStep()
	if applies {
		m.out.syncPeer = p
	}
	m.d.step(ev)
	if !applies {
		return
	}
	// The peer's state holds no retained values: it is owed every one of
	// ours, pushed now or queued on its link.
	for _, id := range m.retained {
		if !m.out.synced[id] {
			p.entry(linkKey{id: id, sync: true}).queued++
		}
	}
}

func (m *routingModel) fetchDone(t *rapid.T) {
	if len(m.fetches) == 0 {
		t.Skip("no fetch in flight")
	}
	call := modelDrawKey(t, m.fetches, "fetch")
	m.completeFetch(call, rapid.IntRange(0, 3).Draw(t, "fetchOutcome") != 0)
}

func (m *routingModel) completeProbe(call uint64, ok bool) {
	c := m.probes[call]
	delete(m.probes, call)
	var err error
	if !ok {
		err = errors.New("timeout")
	} else if c.inc == c.peer.inc && c.peer.present {
		c.peer.lastHeard = m.d.now.Mono
	}
	m.step(&ProbeCompleted{Call: call, Err: err})
}

func (m *routingModel) probeDone(t *rapid.T) {
	if len(m.probes) == 0 {
		t.Skip("no probe in flight")
	}
	m.completeProbe(modelDrawKey(t, m.probes, "probe"), rapid.Bool().Draw(t, "probeOK"))
}

func (m *routingModel) completePush(call uint64, ok bool) {
	c := m.pushes[call]
	delete(m.pushes, call)
	var err error
	if !ok {
		err = errors.New("stream broken")
	}
	if p := c.peer; c.inc == p.inc && p.present {
		en := p.entry(c.key)
		en.inFlight--
		if ok {
			en.done = true
		} else {
			en.queued++ // back to the front of the backlog
		}
	}
	m.step(&PushCompleted{Call: call, Err: err})
}

func (m *routingModel) pushDone(t *rapid.T) {
	if len(m.pushes) == 0 {
		t.Skip("no push in flight")
	}
	m.completePush(modelDrawKey(t, m.pushes, "push"), rapid.IntRange(0, 3).Draw(t, "pushOutcome") != 0)
}

// completeResend answers a resend as the peer would: with what it sent on
// the topic in the range ("from 0" meaning from the first it sent us).
func (m *routingModel) completeResend(call uint64, ok bool) {
	r := m.resends[call]
	delete(m.resends, call)
	if !ok {
		m.step(&ResendCompleted{Call: call, Err: errors.New("unavailable")})
		return
	}
	p := m.peer(r.Peer)
	reply := &ResendReply{Instance: p.id}
	for _, env := range p.sent {
		if env.Topic != r.Topic || env.SourceSeq == 0 {
			continue
		}
		if reply.FirstAvailable == 0 {
			reply.FirstAvailable = env.SourceSeq
		}
		if r.From == 0 && reply.FirstSent == 0 {
			reply.FirstSent = env.SourceSeq
		}
		if env.SourceSeq >= r.From && env.SourceSeq <= r.To {
			reply.Msgs = append(reply.Msgs, env)
		}
	}
	m.step(&ResendCompleted{Call: call, Reply: reply})
}

func (m *routingModel) resendDone(t *rapid.T) {
	if len(m.resends) == 0 {
		t.Skip("no resend in flight")
	}
	m.completeResend(modelDrawKey(t, m.resends, "resend"), rapid.IntRange(0, 3).Draw(t, "resendOutcome") != 0)
}

// pushIn: a peer pushes new messages (numbered in order, each naming its
// predecessor, whatever the node wants; or not numbered, as a v1 node),
// and repeats of ones it pushed before.
func (m *routingModel) pushIn(t *rapid.T) {
	p := m.drawPeer(t)
	n := rapid.IntRange(1, 3).Draw(t, "envelopes")
	var envs []Envelope
	for i := 0; i < n; i++ {
		if len(p.sent) > 0 && rapid.IntRange(0, 2).Draw(t, "repeat") == 0 {
			envs = append(envs, p.sent[rapid.IntRange(0, len(p.sent)-1).Draw(t, "which")])
			continue
		}
		topic := rapid.SampledFrom(modelTopics).Draw(t, "topic")
		var seq uint64
		if rapid.IntRange(0, 3).Draw(t, "v1") != 0 {
			p.seq[topic]++
			seq = p.seq[topic]
		}
		p.nextMsg++
		env := Envelope{ID: fmt.Sprintf("%s-m%d", p.id, p.nextMsg), Topic: topic, Payload: []byte("r"),
			TimestampMs: m.d.now.WallMs, Source: p.id, SourceSeq: seq}
		if seq > 0 {
			env.PrevSeq = seq - 1 // it pushes us every message it numbers
		}
		p.sent = append(p.sent, env)
		envs = append(envs, env)
	}
	want := map[uint64][]string{}
	for _, env := range envs {
		if m.remoteSeen[env.ID] {
			continue
		}
		m.remoteSeen[env.ID] = true
		for _, s := range m.subs {
			if s.stream != 0 && modelMatchAny(s.patterns, env.Topic) {
				want[s.stream] = append(want[s.stream], env.ID)
			}
		}
	}
	m.req++
	heldBefore := m.d.n.Status().Held
	m.step(&PushReceived{Req: m.req, From: p.addr, Envs: envs})
	if m.out.answers != 1 {
		t.Fatalf("push answered %d times", m.out.answers)
	}
	if len(m.out.pushes) != 0 {
		t.Fatalf("a push from %s was pushed on: %v", p.id, m.out.pushes)
	}
	if heldBefore == 0 && m.d.n.Status().Held == 0 {
		m.checkDelivered(want, OutMessage)
	}
}

// checkDelivered checks that the last step delivered exactly want (stream ->
// message ids, in order) as events of kind.
func (m *routingModel) checkDelivered(want map[uint64][]string, kind OutKind) {
	for stream := range m.streams {
		var got []string
		for _, o := range m.out.delivers[stream] {
			if o.Kind == kind {
				got = append(got, o.Msg.ID)
			}
		}
		if !slices.Equal(got, want[stream]) {
			m.t.Fatalf("stream %d (%v) got %v, want %v", stream, m.streams[stream].patterns, got, want[stream])
		}
	}
}

func (m *routingModel) publish(t *rapid.T) {
	topic := rapid.SampledFrom(modelTopics).Draw(t, "topic")
	retain := rapid.IntRange(0, 4).Draw(t, "retain") == 0
	payload := []byte("p")
	if retain && rapid.Bool().Draw(t, "clear") {
		payload = nil
	}
	var local []uint64
	for _, id := range modelKeys(m.subs) {
		if s := m.subs[id]; s.stream != 0 && modelMatchAny(s.patterns, topic) {
			local = append(local, s.stream)
		}
	}
	routed, kept := map[string]bool{}, map[string]bool{}
	for _, p := range m.peers {
		if p.present && modelMatchAny(p.fetched, topic) {
			routed[p.id] = true
		}
		if p.departed && modelMatchAny(p.departedPatterns, topic) {
			kept[p.id] = true
		}
	}
	m.req++
	m.resetStep()
	m.out.publishing = true
	m.d.step(&Published{Req: m.req, Topic: topic, Payload: payload, Retain: retain})

	if len(m.out.completes) != 1 || m.out.completes[0].Err != nil {
		t.Fatalf("publish answered %v", m.out.completes)
	}
	res := m.out.completes[0].Result
	if m.out.pubID == "" {
		m.out.pubID = res.MessageID
		m.localIDs[res.MessageID] = true
	}
	if res.MessageID != m.out.pubID {
		t.Fatalf("publish answered id %s, delivered and pushed %s", res.MessageID, m.out.pubID)
	}
	if retain {
		m.retained[topic] = res.MessageID
	}
	for _, p := range m.peers {
		if kept[p.id] {
			p.missed[linkKey{id: res.MessageID}]++
		}
	}
	if want := len(local) + len(routed); res.Subscribers != want {
		t.Fatalf("publish reached %d, want %d local + %d peers", res.Subscribers, len(local), len(routed))
	}
	want := map[uint64][]string{}
	for _, s := range local {
		want[s] = []string{res.MessageID}
	}
	m.checkDelivered(want, OutMessage)
	for _, p := range m.peers {
		pushed := len(m.out.pushes[p.id])
		target := p.present && (routed[p.id] || retain)
		switch {
		case pushed > 1 || pushed == 1 && !target:
			t.Fatalf("publish to %s pushed %d times to %s (fetched %v, retain %v)", topic, pushed, p.id, p.fetched, retain)
		case target && pushed == 0:
			// The link is resting or behind: the message waits in its
			// backlog, which check() counts.
			p.entry(linkKey{id: res.MessageID}).queued = 1
		}
	}
}

func (m *routingModel) advance(t *rapid.T) {
	ms := rapid.IntRange(1, 3000).Draw(t, "ms")
	m.resetStep()
	m.d.advance(time.Duration(ms) * time.Millisecond)
}

func (m *routingModel) stateRequest(t *rapid.T) {
	m.req++
	m.step(&StateRequested{Req: m.req})
	st := m.out.state
	if st == nil || st.Instance != routeNodeID || !slices.Equal(st.Patterns, m.patterns()) || st.Hash != TopicStateHash(m.patterns()) {
		t.Fatalf("state answer %+v, want patterns %v", st, m.patterns())
	}
}

// answerAll completes every call in flight successfully, and whatever
// those completions start, until none is left.
func (m *routingModel) answerAll() {
	for {
		switch {
		case len(m.fetches) > 0:
			m.completeFetch(modelKeys(m.fetches)[0], true)
		case len(m.probes) > 0:
			m.completeProbe(modelKeys(m.probes)[0], true)
		case len(m.pushes) > 0:
			m.completePush(modelKeys(m.pushes)[0], true)
		case len(m.resends) > 0:
			m.completeResend(modelKeys(m.resends)[0], true)
		default:
			return
		}
	}
}

// settle: every peer the node does not know, or that changed its patterns
// since its last beacon, or that was not heard for 2 s, beacons; every call
// is answered; 2 s pass. Then every peer must be synced with what it
// really holds, and every link empty. A peer that did not beacon was
// synced by the node's own retries, so a failed fetch must not have been
// forgotten.
func (m *routingModel) settle(t *rapid.T) {
	for _, p := range m.peers {
		if !p.present || !slices.Equal(p.current, p.beaconed) || m.d.now.Mono-p.lastHeard >= 2*time.Second {
			m.beacon(p)
		}
	}
	for k := 0; ; k++ {
		m.answerAll()
		if k == 20 {
			break
		}
		m.resetStep()
		m.d.advance(100 * time.Millisecond)
	}
	if held := m.d.n.Status().Held; held != 0 {
		t.Fatalf("after settling, %d messages are still held behind holes", held)
	}
	infos := m.d.n.Peers()
	if len(infos) != len(m.peers) {
		t.Fatalf("after settling the node knows %d peers, want %d", len(infos), len(m.peers))
	}
	for i, info := range infos {
		p := m.peers[i]
		if !info.Synced || !slices.Equal(info.Patterns, p.current) {
			t.Fatalf("after settling %s: synced %v patterns %v, want %v", p.id, info.Synced, info.Patterns, p.current)
		}
		if info.Link.InFlight != 0 || info.Link.Backlog != 0 || info.Link.Resting {
			t.Fatalf("after settling, link to %s: %+v", p.id, info.Link)
		}
	}
}

// check is the invariant, run after every action.
func (m *routingModel) check(t *rapid.T) {
	n := m.d.n
	pats := m.patterns()
	if got := n.Patterns(); !slices.Equal(got, pats) {
		t.Fatalf("Patterns() %v, want %v", got, pats)
	}
	if n.Hash() != TopicStateHash(pats) {
		t.Fatalf("Hash() %016x, want %016x", n.Hash(), TopicStateHash(pats))
	}

	infos := n.Peers()
	present := 0
	for _, p := range m.peers {
		if p.present {
			present++
		}
	}
	if len(infos) != present {
		t.Fatalf("Peers() lists %d, want %d", len(infos), present)
	}
	for _, info := range infos {
		p := m.peer(info.ID)
		switch {
		case !p.present || info.Addr != p.addr:
			t.Fatalf("Peers() lists %s at %s; present %v", info.ID, info.Addr, p.present)
		case !slices.Equal(info.Patterns, p.fetched):
			t.Fatalf("%s: patterns %v, last fetched %v", p.id, info.Patterns, p.fetched)
		case info.Synced != p.synced():
			t.Fatalf("%s: synced %v, want %v (fetched %v, beaconed %v)", p.id, info.Synced, p.synced(), p.fetched, p.beaconed)
		case info.Synced && !slices.Equal(info.Patterns, p.beaconed):
			t.Fatalf("%s: synced with %v, but its beacon advertised %v", p.id, info.Patterns, p.beaconed)
		case info.Hash != TopicStateHash(p.beaconed):
			t.Fatalf("%s: beacon hash %016x, want %016x", p.id, info.Hash, TopicStateHash(p.beaconed))
		}
		inFlight, backlog := p.linkCounts()
		if info.Link.InFlight != inFlight || info.Link.Backlog != backlog {
			t.Fatalf("link to %s: %+v, want %d in flight and %d waiting", p.id, info.Link, inFlight, backlog)
		}
	}

	st := n.Status()
	if st.FetchesInFlight != len(m.fetches) || st.FetchesInFlight > n.Config().MaxFetchesInFlight {
		t.Fatalf("%d fetches in flight, the test holds %d, the limit is %d", st.FetchesInFlight, len(m.fetches), n.Config().MaxFetchesInFlight)
	}

	subs := n.Subscriptions()
	if len(subs) != len(m.subs) {
		t.Fatalf("Subscriptions() lists %d, want %d", len(subs), len(m.subs))
	}
	for _, ss := range subs {
		s := m.subs[ss.ID]
		switch {
		case s == nil:
			t.Fatalf("unknown subscription %s", ss.ID)
		case ss.Stream != s.stream || ss.Paused != (s.stream == 0) || !slices.Equal(ss.Patterns, s.patterns):
			t.Fatalf("subscription %s: %+v, want stream %d patterns %v", ss.ID, ss, s.stream, s.patterns)
		case ss.Queued != 0 || ss.Pending != 0:
			t.Fatalf("subscription %s holds %d queued and %d pending with ample credit", ss.ID, ss.Queued, ss.Pending)
		}
	}
}
