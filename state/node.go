package state

import (
	"fmt"
	"time"

	"github.com/nexusd/nexusd/internal/quadheap"
)

// Node is the protocol of one daemon. It performs no I/O and is owned by
// one goroutine; see the package comment.
type Node struct {
	cfg  Config
	rand Source
	now  Instant // of the Step or Tick under way

	// Effects of the Step under way; the arenas back the frequent kinds.
	effects   []Effect
	delivers  arena[Deliver]
	slabs     slabPool // run slabs to use again (slab.go)
	chunk     []byte   // borrowed payloads copied outside a slab (slab.go)
	pushes    arena[Push]
	completes arena[CompletePublish]
	pubRun    *CompletePublishRun // the run answer the Step under way may extend; nil: none
	step      uint64              // Steps and Ticks begun: what a subscription's run is good for (deliver_run.go)
	acks      arena[AnswerPush]
	releases  arena[ReleaseFrame]

	nextID   uint64    // calls and other ids, never reused
	ids      idPool    // message ids
	peerIDs  peerNames // ids of peers' messages pushed by number (ids.go)
	calls    map[uint64]call
	timers   quadheap.Heap[timer]
	timerSeq uint64

	beaconAlarm  alarm
	reapAlarm    alarm
	silenceAlarm alarm     // silence.go
	heardQ       peerQueue // peers by lastHeard, alive
	silentQ      peerQueue // peers by lastHeard, suspected
	lastBeacon   time.Duration
	left         bool // the Leaving event came: no beacon after the leave
	beaconsSent  uint64

	// Membership and gossip (peers.go, gossip.go).
	peers           peerTable // by instance id
	slots           peerSlots // peers by slot, for push call ids
	byAddr          map[string]*peer
	peerList        []*peer // sorted by id; nil when it must be rebuilt
	fetchesInFlight int
	fetchWait       deque[*peer]
	peerRoutes      trie[*peer]
	chains          map[string]*chain     // by peer id, kept a while after death
	departedOrder   deque[departure]      // chain.go: deaths, oldest first
	departedLive    int                   // chains whose peer is dead now
	departures      uint64                // deaths and absences so far, numbering their entries
	departedRoutes  trie[*chain]          // dead peers' last known patterns
	departedAt      map[string]string     // address -> dead peer id
	pastMarks       map[string]beaconMark // admit.go: removed members' last (epoch, counter)
	pastOrder       deque[string]
	leftAt          map[string]time.Duration // leave.go: instances removed by their leave, and when
	leftOrder       deque[leftInstance]
	newPeers        map[string]*newPeerBucket // admit.go: new instances by address
	awaySources     map[string]awaySource     // repair.go: dead sources whose holes wait for their return
	awayOrder       deque[awaySource]

	// Local subscriptions (subscription.go).
	subs        map[string]*subscription // by id, active and paused
	streams     map[uint64]*subscription // by attached stream
	localRoutes trie[*subscription]
	localMemo   matchMemo      // localRoutes' last answer (localMatch)
	validTopic  string         // the last topic checkEnvelope found valid
	patternRefs map[string]int // pattern -> subscriptions holding it (queue group members apart)
	groups      groupState     // groups.go
	patterns    []string       // sorted distinct; nil when it must be rebuilt
	hash        uint64
	state       *NodeState // cached answer to StateRequested; nil when stale

	// Delivery (buffer.go, retained.go, repair.go, dedup.go).
	topics       topicTable
	buffer       buffer
	retained     retainedStore
	dedup        dedupWindow
	inStreams    streamTable
	unwantedSeen map[streamKey]uint64 // repair.go: highest number passed over unwanted, streams with no tracker
	unasked      map[string]bool      // repair.go: sources not peers when their holes came due (sourceBack)
	stampWait    map[string]*Message  // stamp.go: retained values whose source is asked to vouch, by id
	mark         uint64               // per-publish epoch that deduplicates trie matches
	ownSeqFloor  uint64               // every evicted topic's source numbering stayed below this
	headFloor    uint64               // and its delivery numbering
	expirable    int                  // stored things with an expiry; the reaper runs while > 0

	// The local publish under way: pub points at pubScratch, or at a heap
	// copy once a Block subscription makes the answer wait.
	pub        *pendingPublish
	pubScratch pendingPublish
	freePubs   []*pendingPublish // answered heap copies, made again (queue.go)
	run        runScratch        // run.go
	slab       []Message         // where remoteMessage makes messages, a slab at a time
	slabUsed   int
	remote     *msgSlab // where remoteMessage makes a run's messages, counted (slab.go)
	remoteUsed int
	runLeft    int       // while a push is received: its envelopes from this one to the end of its topic's run
	borrowed   bool      // and whether its payloads are to be copied (PushReceived.Borrowed)
	pushFrame  lentFrame // or kept where they are (frames.go)

	mem         memory // memory.go
	viewedBytes int    // frames that slabs view (frames.go)
	counters    Counters
}

// call is an outstanding request effect, found again by its completion.
type call struct {
	kind  callKind
	peer  *peer
	in    *inStream  // resend
	to    uint64     // resend: the last number asked for
	held  []*Message // resend: what was held behind the hole when asked
	vouch uint64     // resend: the number asked to be vouched for (plausible.go)
	stamp string     // resend: the retained value whose stamp is asked about (stamp.go)
	tries int        // resend of a stamp: how many times it was asked before
}

type callKind uint8

const (
	callFetch callKind = iota + 1
	callProbe
	callMove // a probe of a peer's claimed new address
	callResend
)

// New returns a node ready for its first event, or the reason the config
// cannot work.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:          cfg,
		rand:         cfg.Rand,
		ids:          newIDPool(cfg.NodeID),
		calls:        make(map[uint64]call),
		beaconAlarm:  newAlarm(),
		reapAlarm:    newAlarm(),
		silenceAlarm: newAlarm(),
		byAddr:       make(map[string]*peer),
		subs:         make(map[string]*subscription),
		streams:      make(map[uint64]*subscription),
		patternRefs:  make(map[string]int),
		chains:       make(map[string]*chain),
		departedAt:   make(map[string]string),
		pastMarks:    make(map[string]beaconMark),
		leftAt:       make(map[string]time.Duration),
		newPeers:     make(map[string]*newPeerBucket),
		awaySources:  make(map[string]awaySource),
		unwantedSeen: make(map[streamKey]uint64),
		unasked:      make(map[string]bool),
		stampWait:    make(map[string]*Message),
		counters:     newCounters(),
	}
	n.topics.init()
	n.groups.init()
	n.retained.init()
	n.dedup.init(cfg.DedupWindow)
	n.charge(memDedup, cfg.DedupWindow*dedupEntryBytes)
	n.inStreams.init()
	n.patterns = []string{}
	return n, nil
}

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// ID is the node's instance id.
func (n *Node) ID() string { return n.cfg.NodeID }

// Step hands the node one event and returns what to do about it. The
// returned effects are valid until the next Step or Tick.
func (n *Node) Step(now Instant, ev Event) []Effect {
	n.begin(now)
	switch e := ev.(type) {
	case *BeaconReceived:
		n.onBeacon(&e.Beacon)
	case *Leaving:
		n.leave()
	case *LeaveNoticed:
		n.onLeaveNotice(e)
	case *FetchCompleted:
		n.onFetchCompleted(e)
	case *ProbeCompleted:
		n.onProbeCompleted(e)
	case *PushCompleted:
		n.onPushCompleted(e)
	case *PushesCompleted:
		n.onPushesCompleted(e)
	case *ResendCompleted:
		n.onResendCompleted(e)
	case *StateRequested:
		n.emit(&AnswerState{Req: e.Req, State: n.nodeState()})
		n.counters.StateAnswers++
	case *PushReceived:
		n.onPushReceived(e)
	case *ResendRequested:
		n.onResendRequested(e)
	case *Published:
		n.onPublished(e)
	case *PublishedBatch:
		n.onPublishedBatch(e)
	case *Subscribed:
		n.onSubscribed(e)
	case *Resumed:
		n.onResumed(e)
	case *Unsubscribed:
		n.onUnsubscribed(e)
	case *CreditGranted:
		n.onCredit(e)
	case *StreamClosed:
		n.onStreamClosed(e)
	default:
		n.reject(reasonUnknownEvent)
	}
	n.shedBudget()
	return n.effects
}

// Tick lets time pass: every timer due at now fires. The first Tick also
// sends the first beacon.
func (n *Node) Tick(now Instant) []Effect {
	n.begin(now)
	if n.beaconsSent == 0 && n.beaconAlarm.want == Never && n.beaconAlarm.armed == Never {
		n.sendBeacon()
	}
	for {
		t, ok := n.dueTimer(now.Mono)
		if !ok {
			break
		}
		n.fire(t.At, t.V)
	}
	n.shedBudget()
	return n.effects
}

// Start schedules the first beacon: a node that has been Started beacons
// at its first Tick. It is the same as calling Tick at now.
func (n *Node) Start(now Instant) []Effect { return n.Tick(now) }

func (n *Node) begin(now Instant) {
	if now.Mono < n.now.Mono {
		// A monotonic clock that goes backwards is the owner's bug; treat
		// it as no time passing rather than rewinding timers.
		now.Mono = n.now.Mono
	}
	n.now = now
	n.effects = n.effects[:0]
	n.delivers.reset()
	n.pushes.reset()
	n.completes.reset()
	n.acks.reset()
	n.releases.reset()
	n.pubRun = nil
	n.step++
}

func (n *Node) emit(e Effect) { n.effects = append(n.effects, e) }

func (n *Node) newCall(c call) uint64 {
	n.nextID++
	n.calls[n.nextID] = c
	return n.nextID
}

// takeCall finds and forgets the call a completion answers.
func (n *Node) takeCall(id uint64, kind callKind) (call, bool) {
	c, ok := n.calls[id]
	if !ok || c.kind != kind {
		n.reject(reasonUnknownCall)
		return call{}, false
	}
	delete(n.calls, id)
	return c, true
}

func (n *Node) fire(at time.Duration, t timer) {
	switch t.kind {
	case tBeacon:
		n.sendBeacon()
	case tReap:
		n.reap()
	case tPeer:
		n.silenceDue(at)
	case tFetch:
		n.maybeFetch(t.peer)
	case tPushRetry:
		n.retryLink(t.peer)
	case tRepair:
		n.repairDue(t.in)
	case tHeartbeat:
		n.heartbeatDue(t.sub)
	case tWarning:
		n.warnDue(t.sub)
	case tBlock:
		n.blockDue(t.sub)
	case tPause:
		n.pauseExpired(t.sub)
	default:
		panic(fmt.Sprintf("state: timer kind %d has no handler", t.kind))
	}
}

// sendBeacon emits a beacon and schedules the next one with jitter.
func (n *Node) sendBeacon() {
	if n.left {
		return // the leave beacon was the last
	}
	n.forgetDeparted()
	n.emit(&SendBeacon{Hash: n.hash})
	n.beaconsSent++
	n.counters.BeaconsSent++
	n.lastBeacon = n.now.Mono
	j := n.cfg.BeaconJitter * (2*float01(n.rand) - 1)
	next := time.Duration(float64(n.cfg.BeaconInterval) * (1 + j))
	n.arm(&n.beaconAlarm, n.now.Mono+next, timer{kind: tBeacon})
}

// beaconSoon brings the next beacon forward after our hash changed, so
// peers learn of it in BeaconMinGap rather than a whole interval.
func (n *Node) beaconSoon() {
	if n.beaconsSent == 0 || n.left {
		return // not started; the first Tick beacons
	}
	at := n.lastBeacon + n.cfg.BeaconMinGap
	if at < n.now.Mono {
		at = n.now.Mono
	}
	if at < n.beaconAlarm.want {
		n.arm(&n.beaconAlarm, at, timer{kind: tBeacon})
	}
}
