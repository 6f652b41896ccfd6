package netshell

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/nexusd/nexusd/state"
)

// fakeNet records what the loop asks of the network and answers nothing
// unless the test does.
type fakeNet struct {
	clk     *clock.Mock
	mu      sync.Mutex
	beacons []time.Time
	fetches []state.FetchState
	pushes  []uint64
	runs    [][]uint64 // the calls of each PushRun
	closed  []string
}

func (f *fakeNet) Announce(uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.beacons = append(f.beacons, f.clk.Now())
}
func (f *fakeNet) Leave(uint64) {}
func (f *fakeNet) Fetch(call uint64, peer, addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches = append(f.fetches, state.FetchState{Call: call, Peer: peer, Addr: addr})
}
func (f *fakeNet) Probe(uint64, string, string, bool) {}
func (f *fakeNet) PushRun(_, _ string, run []queuedPush) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var calls []uint64
	for _, p := range run {
		calls = append(calls, p.call)
	}
	f.pushes = append(f.pushes, calls...)
	f.runs = append(f.runs, calls)
}
func (f *fakeNet) Resend(state.RequestResend) {}
func (f *fakeNet) ClosePeer(peer, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, peer)
}

func (f *fakeNet) Sweep() {}

// loopHarness runs a loop on a mock clock.
type loopHarness struct {
	t   *testing.T
	l   *loop
	clk *clock.Mock
	net *fakeNet
}

const (
	testCallTimeout  = 2 * time.Second
	testBlockTimeout = 5 * time.Second
)

func newLoopHarness(t *testing.T) *loopHarness {
	t.Helper()
	clk := clock.NewMock()
	clk.Set(time.UnixMilli(1_700_000_000_000))
	node, err := state.New(state.DefaultConfig("self-instance", "test", rand.New(rand.NewPCG(1, 2))))
	if err != nil {
		t.Fatal(err)
	}
	l := newLoop(node, clk, slog.New(slog.NewTextHandler(io.Discard, nil)), newMetrics(), 64, testCallTimeout, testBlockTimeout)
	f := &fakeNet{clk: clk}
	l.mesh, l.beacons = f, f
	ctx, cancel := context.WithCancel(context.Background())
	go l.run(ctx)
	t.Cleanup(func() { cancel(); <-l.done })
	h := &loopHarness{t: t, l: l, clk: clk, net: f}
	h.barrier()
	return h
}

func (h *loopHarness) barrier() {
	h.t.Helper()
	if err := h.l.barrier(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// advance moves the mock clock by d, stopping at every deadline of the
// loop on the way and letting it finish before going on.
func (h *loopHarness) advance(d time.Duration) {
	h.t.Helper()
	end := h.clk.Now().Add(d)
	for {
		var wait time.Duration
		h.query(func(l *loop) { wait = min(l.node.NextDeadline(), l.ledger.next()) - l.clk.Since(l.start) })
		now := h.clk.Now()
		if next := now.Add(max(wait, 0)); wait == state.Never || next.After(end) {
			h.clk.Add(end.Sub(now))
			h.barrier()
			return
		}
		h.clk.Add(max(wait, 0))
		h.barrier()
	}
}

func (h *loopHarness) query(f func(*loop)) {
	h.t.Helper()
	if err := h.l.query(context.Background(), f); err != nil {
		h.t.Fatal(err)
	}
}

func (h *loopHarness) post(ev state.Event, reply replier) {
	h.t.Helper()
	if err := h.l.post(context.Background(), input{ev: ev, reply: reply}); err != nil {
		h.t.Fatal(err)
	}
	h.barrier()
}

func (h *loopHarness) counters() (state.Counters, loopStats) {
	var c state.Counters
	var s loopStats
	h.query(func(l *loop) { c, s = l.node.Status().Counters, l.stats })
	return c, s
}

func TestLoopBeaconsAtTheNodesDeadlinesOnAMockClock(t *testing.T) {
	h := newLoopHarness(t)
	h.net.mu.Lock()
	first := len(h.net.beacons)
	h.net.mu.Unlock()
	if first != 1 {
		t.Fatalf("%d beacons before time moved, want 1 (the first tick sends it)", first)
	}
	h.advance(20 * time.Second)
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	if n := len(h.net.beacons); n < 18 || n > 23 {
		t.Fatalf("%d beacons in 20 s at 1 Hz with ±10%% jitter", n)
	}
	for i := 1; i < len(h.net.beacons); i++ {
		if gap := h.net.beacons[i].Sub(h.net.beacons[i-1]); gap < 900*time.Millisecond || gap > 1100*time.Millisecond {
			t.Fatalf("beacon %d came %s after the one before, want 0.9 s to 1.1 s", i, gap)
		}
	}
}

// peerBeacon introduces a peer whose state has one pattern.
// syncedPeer introduces peer id and completes its fetch: it wants pattern.
func (h *loopHarness) syncedPeer(id, pattern string) {
	h.t.Helper()
	h.peerBeacon(id, pattern)
	h.net.mu.Lock()
	fetch := h.net.fetches[len(h.net.fetches)-1]
	h.net.mu.Unlock()
	h.post(&state.FetchCompleted{Call: fetch.Call, State: &state.NodeState{Instance: id,
		Patterns: []string{pattern}, Hash: state.TopicStateHash([]string{pattern})}}, nil)
}

func (h *loopHarness) peerBeacon(id, pattern string) {
	h.t.Helper()
	h.post(&state.BeaconReceived{Beacon: state.Beacon{Instance: id, Cluster: "test", Addr: "10.0.0.2:5671",
		Hash: state.TopicStateHash([]string{pattern}), Version: 1, WallMs: h.clk.Now().UnixMilli()}}, nil)
}

func TestEveryCallIsCompletedEvenWhenTheTransportNeverAnswers(t *testing.T) {
	h := newLoopHarness(t)
	h.peerBeacon("peer-1", "t/#")
	h.net.mu.Lock()
	if len(h.net.fetches) != 1 {
		t.Fatalf("fetches after a new peer's beacon: %v, want 1", h.net.fetches)
	}
	fetch := h.net.fetches[0]
	h.net.mu.Unlock()

	// The transport never answers: the ledger fails the call after the
	// backstop (1.5 call timeouts).
	h.advance(testCallTimeout)
	if c, _ := h.counters(); c.FetchesFailed != 0 {
		t.Fatalf("fetch failed before the backstop")
	}
	h.advance(testCallTimeout)
	c, s := h.counters()
	if c.FetchesFailed != 1 || s.CallsTimedOut != 1 {
		t.Fatalf("after 2 call timeouts: fetches failed %d, calls timed out %d; want 1 and 1", c.FetchesFailed, s.CallsTimedOut)
	}
	// An answer after the timeout is dropped before the node sees it.
	h.post(&state.FetchCompleted{Call: fetch.Call, Err: context.DeadlineExceeded}, nil)
	c, s = h.counters()
	if s.LateCompletions != 1 || c.Rejected["unknown_call"] != 0 {
		t.Fatalf("late answer: late %d, node saw unknown call %d; want 1 and 0", s.LateCompletions, c.Rejected["unknown_call"])
	}

	// The node fetches again (the peer is still unsynced, and its beacons
	// keep it alive); answer it, so publishes route to the peer. Pushes
	// are the push link's to complete (mesh_push_test.go), not the
	// ledger's: a push is the one call made per message.
	h.peerBeacon("peer-1", "t/#")
	h.advance(time.Second)
	h.net.mu.Lock()
	retry := h.net.fetches[len(h.net.fetches)-1]
	h.net.mu.Unlock()
	if retry.Call == fetch.Call {
		t.Fatalf("no new fetch after the failed one")
	}
	h.post(&state.FetchCompleted{Call: retry.Call, State: &state.NodeState{Instance: "peer-1",
		Patterns: []string{"t/#"}, Hash: state.TopicStateHash([]string{"t/#"})}}, nil)
	reply := newReplyChan()
	h.post(&state.Published{Req: 7, Topic: "t/x", Payload: []byte("hi")}, reply)
	done := (<-reply).(*state.CompletePublish)
	if done.Req != 7 || done.Err != nil || done.Result.Subscribers != 1 {
		t.Fatalf("publish answer %v, want req 7 reaching 1 peer", done)
	}
	h.net.mu.Lock()
	if len(h.net.pushes) != 1 {
		t.Fatalf("pushes: %v, want 1", h.net.pushes)
	}
	h.net.mu.Unlock()
}

func TestAnswersAndDeliveriesReachTheirRequestsAndStreams(t *testing.T) {
	h := newLoopHarness(t)
	st := newSubStream(41, 8, 1)
	if err := h.l.post(context.Background(), input{ev: &state.Subscribed{Stream: 41, Patterns: []string{"a/+"}, Credit: 8,
		Policy: state.PolicyDefault}, stream: st}); err != nil {
		t.Fatal(err)
	}
	h.barrier()
	reply := newReplyChan()
	h.post(&state.Published{Req: 1, Topic: "a/b", Payload: []byte("one")}, reply)
	if c := (<-reply).(*state.CompletePublish); c.Result.Subscribers != 1 {
		t.Fatalf("publish reached %d, want 1", c.Result.Subscribers)
	}
	items := st.box.take(nil)
	if len(items) != 2 || items[0].kind() != state.OutInfo || items[1].kind() != state.OutMessage ||
		string(items[1].message().Payload) != "one" {
		t.Fatalf("stream got %v, want info then the message", items)
	}
	subID := items[0].out().Info.SubID
	h.post(&state.Unsubscribed{Req: 2, SubID: subID, Pause: true}, reply)
	if c := (<-reply).(*state.CompleteUnsubscribe); c.Err != nil || c.PauseTTL <= 0 {
		t.Fatalf("pause answered %v", c)
	}
	if items = st.box.take(items); len(items) != 1 || !items[0].ended() || items[0].endErr() != nil {
		t.Fatalf("after pause the stream got %v, want a clean end", items)
	}
	h.post(&state.Unsubscribed{Req: 3, SubID: "nope"}, reply)
	if c := (<-reply).(*state.CompleteUnsubscribe); state.CodeOf(c.Err) != state.NotFound {
		t.Fatalf("unknown subscription answered %v", c.Err)
	}
	var streams, replies int
	h.query(func(l *loop) { streams, replies = len(l.streams), l.replies.len() })
	if streams != 0 || replies != 0 {
		t.Fatalf("loop still holds %d streams and %d replies", streams, replies)
	}
}

// The pushes a frame of publishes makes to one peer reach its link as one
// run, in the order the node made them, before the loop takes its next
// input.
func TestAFramesPushesToOnePeerReachItsLinkTogether(t *testing.T) {
	h := newLoopHarness(t)
	h.syncedPeer("peer-1", "t/#")
	pubs := make([]state.Published, 5)
	for i := range pubs {
		pubs[i] = state.Published{Req: uint64(10 + i), Topic: "t/x", Payload: []byte("p")}
	}
	h.post(&state.PublishedBatch{Pubs: pubs}, make(replyChan, len(pubs)))
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	if len(h.net.runs) != 1 || len(h.net.runs[0]) != 5 {
		t.Fatalf("push runs %v, want one of 5", h.net.runs)
	}
	for i := 1; i < 5; i++ {
		if h.net.runs[0][i] <= h.net.runs[0][i-1] {
			t.Fatalf("push run %v is not in the order the node made it", h.net.runs[0])
		}
	}
}
