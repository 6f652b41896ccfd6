package state

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func retain(p *Published) { p.Retain = true }

func TestRetainedValueGoesToNewSubscriberAfterInfo(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.publish("cfg/a", "1", retain)
	h.publish("cfg/a", "2", retain) // replaces
	h.publish("cfg/b", "3", retain)
	h.publish("cfg/c", "4") // not retained
	effs := h.step(&Subscribed{Stream: 1, Patterns: []string{"cfg/#"}, ReceiveRetained: true, Policy: PolicyDefault, Credit: 10})
	if got := fmt.Sprint(delivered(effs, 1)); got != "[info retained cfg/a:2 retained cfg/b:3]" {
		t.Fatalf("got %s", got)
	}
	// Without receive_retained: nothing but the info.
	effs = h.step(&Subscribed{Stream: 2, Patterns: []string{"cfg/#"}, Policy: PolicyDefault, Credit: 10})
	if got := fmt.Sprint(delivered(effs, 2)); got != "[info]" {
		t.Fatalf("got %s", got)
	}
}

func TestEmptyRetainedPayloadClearsTheTopic(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.publish("cfg/a", "1", retain)
	h.publish("cfg/a", "", retain)
	if h.n.Retained("cfg/a") != nil {
		t.Fatal("still retained after clear")
	}
	effs := h.step(&Subscribed{Stream: 1, Patterns: []string{"cfg/a"}, ReceiveRetained: true, Policy: PolicyDefault, Credit: 10})
	if got := fmt.Sprint(delivered(effs, 1)); got != "[info]" {
		t.Fatalf("got %s", got)
	}
}

func TestRetainedValueExpiresWithItsTTL(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.publish("cfg/a", "1", retain, func(p *Published) { p.TTLMs = 2000 })
	h.advance(1900 * time.Millisecond)
	if h.n.Retained("cfg/a") == nil {
		t.Fatal("expired early")
	}
	h.advance(200 * time.Millisecond)
	effs := h.step(&Subscribed{Stream: 1, Patterns: []string{"cfg/a"}, ReceiveRetained: true, Policy: PolicyDefault, Credit: 10})
	if got := fmt.Sprint(delivered(effs, 1)); got != "[info]" {
		t.Fatalf("got %s", got)
	}
	if h.n.Retained("cfg/a") != nil {
		t.Fatal("expired value still reported")
	}
	h.advance(2 * time.Second) // the reaper frees its payload, keeping a tombstone
	if m := h.n.retained.byTopic["cfg/a"]; m == nil || len(m.Payload) != 0 || h.n.retained.bytes != m.cost() {
		t.Fatalf("expired value not turned into a tombstone: %+v", m)
	}
	h.advance(h.n.cfg.TombstoneTTL)
	if len(h.n.retained.byTopic) != 0 {
		t.Fatalf("tombstone still held after TombstoneTTL: %d", len(h.n.retained.byTopic))
	}
}

func TestExpiredRetainedValueStillBeatsOlderOnes(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.step(&PushReceived{Req: 1, Envs: []Envelope{{ID: "old", Topic: "t", Payload: []byte("old"), Source: "n2", Retain: true, TimestampMs: h.now.WallMs - 5000}}})
	// A newer value that had already expired when it got here (a slow
	// link, or our clock ahead) still replaces the older one...
	h.step(&PushReceived{Req: 2, Envs: []Envelope{{ID: "new", Topic: "t", Payload: []byte("new"), Source: "n3", Retain: true, TimestampMs: h.now.WallMs - 2000, TTLMs: 1000}}})
	if h.n.Retained("t") != nil {
		t.Fatal("the older value survived a newer, expired one")
	}
	// ...and, reaped to a tombstone, keeps beating it when it comes again.
	h.advance(2 * time.Second)
	h.step(&PushReceived{Req: 3, Envs: []Envelope{{ID: "old2", Topic: "t", Payload: []byte("old"), Source: "n2", Retain: true, TimestampMs: h.now.WallMs - 7000}}})
	if h.n.Retained("t") != nil {
		t.Fatal("an older value came back after the newer one expired")
	}
}

func TestRetainedPublishIsPushedToEveryPeer(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "cfg/#")
	h.sync("n3", "other")
	effs := h.publish("cfg/a", "1", retain)
	if got := len(of[*Push](effs)); got != 2 {
		t.Fatalf("%d pushes, want 2 (subscriber and non-subscriber)", got)
	}
	if r := only[*CompletePublish](t, effs).Result; r.Subscribers != 1 {
		t.Fatalf("subscriber_count %d counts replication pushes", r.Subscribers)
	}
}

func TestRetainedFromPushAndFromFetchedStateReachSubscribers(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2")
	h.step(&PushReceived{Req: 1, Envs: []Envelope{{ID: "m1", Topic: "cfg/a", Payload: []byte("pushed"), Source: "n2", Retain: true, TimestampMs: h.now.WallMs, SourceSeq: 1}}})
	f := only[*FetchState](t, h.beacon("n3", "n3:5671", 0))
	h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: "n3", Retained: []Envelope{
		{ID: "m2", Topic: "cfg/b", Payload: []byte("fetched"), Source: "n3", Retain: true, TimestampMs: h.now.WallMs},
	}}})
	effs := h.step(&Subscribed{Stream: 1, Patterns: []string{"cfg/+"}, ReceiveRetained: true, Policy: PolicyDefault, Credit: 10})
	if got := fmt.Sprint(delivered(effs, 1)); got != "[info retained cfg/a:pushed retained cfg/b:fetched]" {
		t.Fatalf("got %s", got)
	}
}

func TestRetainedConflictsConvergeWhateverTheArrivalOrder(t *testing.T) {
	vals := []Envelope{
		{ID: "a", Topic: "t", Payload: []byte("old"), Source: "n2", Retain: true, TimestampMs: 100, SourceSeq: 1},
		{ID: "b", Topic: "t", Payload: []byte("same-ms-lower-source"), Source: "n2", Retain: true, TimestampMs: 200, SourceSeq: 2},
		{ID: "c", Topic: "t", Payload: []byte("winner"), Source: "n3", Retain: true, TimestampMs: 200, SourceSeq: 1},
		{ID: "d", Topic: "t", Payload: nil, Source: "n2", Retain: true, TimestampMs: 150, SourceSeq: 3}, // an older clear
	}
	orders := [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}, {1, 3, 0, 2}}
	for _, order := range orders {
		h := newHarness(t, "n1")
		h.start()
		for i, k := range order {
			h.step(&PushReceived{Req: uint64(i), Envs: []Envelope{vals[k]}})
		}
		m := h.n.Retained("t")
		if m == nil || string(m.Payload) != "winner" {
			t.Fatalf("order %v: retained %v, want winner", order, m)
		}
	}
}

func TestNewerClearBeatsOlderValueArrivingLate(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.step(&PushReceived{Req: 1, Envs: []Envelope{{ID: "clear", Topic: "t", Source: "n2", Retain: true, TimestampMs: 300}}})
	h.step(&PushReceived{Req: 2, Envs: []Envelope{{ID: "old", Topic: "t", Payload: []byte("v"), Source: "n3", Retain: true, TimestampMs: 200}}})
	if h.n.Retained("t") != nil {
		t.Fatal("an older value resurrected a cleared topic")
	}
}

func TestSameSourceSameMillisecondLaterPublishWins(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	for i := range 50 { // all in the same wall millisecond
		h.publish("t", fmt.Sprint(i), retain)
	}
	if m := h.n.Retained("t"); string(m.Payload) != "49" {
		t.Fatalf("retained %q, want the last publish", m.Payload)
	}
}

func TestRetainedLimitRefusesNewTopicsNotUpdates(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxRetained = 2 })
	h.start()
	h.publish("a", "1", retain)
	h.publish("b", "1", retain)
	r := only[*CompletePublish](t, h.publish("c", "1", retain))
	if CodeOf(r.Err) != Limit {
		t.Fatalf("third retained topic: %v, want a limit error", r.Err)
	}
	if r := only[*CompletePublish](t, h.publish("a", "2", retain)); r.Err != nil {
		t.Fatalf("update of a held topic refused: %v", r.Err)
	}
	// A cleared topic counts until its clear is forgotten, and the
	// refusal says so, and when room comes back.
	h.publish("b", "", retain)
	r = only[*CompletePublish](t, h.publish("c", "1", retain))
	if CodeOf(r.Err) != Limit || !strings.Contains(r.Err.Error(), "a cleared one counting for 5m0s") {
		t.Fatalf("a new topic after a clear: %v, want a limit error saying the clear counts for 5m0s", r.Err)
	}
}

func TestRetainedPublishRecoveredByResendBecomesTheTopicsValue(t *testing.T) {
	h := repairHarness(t)
	h.pushSeqs(1, 3) // 2 is lost on the way
	req := only[*RequestResend](t, h.advance(50*time.Millisecond))
	lost := h.envFrom("n2", "t", 2)
	lost.Retain = true
	lost.Payload = []byte("retained-2")
	h.step(&ResendCompleted{Call: req.Call, Reply: &ResendReply{Instance: "n2", Msgs: []Envelope{lost}, FirstAvailable: 1}})
	if m := h.n.Retained("t"); m == nil || string(m.Payload) != "retained-2" {
		t.Fatalf("retained after repair: %v", m)
	}
}

func TestRetainedBytesLimitRefusesGrowthNotShrinking(t *testing.T) {
	o := 1 + msgOverheadBytes // one-byte topics
	h := newHarness(t, "n1", func(c *Config) { c.MaxRetainedBytes = 10 + 2*o })
	h.start()
	h.publish("a", "123456", retain)
	r := only[*CompletePublish](t, h.publish("b", "12345", retain))
	if CodeOf(r.Err) != Limit {
		t.Fatalf("past the byte limit: %v, want a limit error", r.Err)
	}
	if r := only[*CompletePublish](t, h.publish("a", "1", retain)); r.Err != nil {
		t.Fatalf("shrinking a value refused: %v", r.Err)
	}
	if r := only[*CompletePublish](t, h.publish("b", "12345", retain)); r.Err != nil {
		t.Fatalf("room freed but still refused: %v", r.Err)
	}
	h.step(&PushReceived{Req: 1, Envs: []Envelope{{ID: "x", Topic: "c", Payload: []byte("123456789"), Source: "n2", Retain: true, TimestampMs: h.now.WallMs}}})
	if h.n.Retained("c") != nil || h.n.Status().Counters.Rejected[reasonRetainedLimit] != 2 {
		t.Fatal("a remote value past the limit was stored or not counted")
	}
}

// A retained publish reaches a peer that does not want its topic chained
// like any push: the peer passes its number over unwanted (or delivers it,
// if it has come to want the topic before we heard), and the first message
// routed to it once it wants the topic names it as its predecessor, which
// the peer passed over: nothing looks missing.
func TestRetainedReplicationIsChainedLikeAnyPush(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "other")
	rep := only[*Push](t, h.publish("cfg/a", "1", retain))
	if rep.Prev != 0 || rep.Msg.SourceSeq != 1 || rep.SyncOnly {
		t.Fatalf("replication push %s#%d prev %d sync-only %v, want #1 prev 0, routed", rep.Msg.Topic, rep.Msg.SourceSeq, rep.Prev, rep.SyncOnly)
	}
	h.advance(h.n.cfg.FetchInterval)
	h.sync("n2", "other", "cfg/#")
	push := only[*Push](t, h.publish("cfg/a", "2"))
	if push.Msg.SourceSeq != 2 || push.Prev != 1 {
		t.Fatalf("first push n2 wanted: %s#%d prev %d, want #2 prev 1", push.Msg.Topic, push.Msg.SourceSeq, push.Prev)
	}
	push = only[*Push](t, h.publish("cfg/a", "3", retain))
	if push.Msg.SourceSeq != 3 || push.Prev != 2 {
		t.Fatalf("next push: %s#%d prev %d, want #3 prev 2", push.Msg.Topic, push.Msg.SourceSeq, push.Prev)
	}

	// The receiving side: the replication passed over unwanted, the first
	// message routed names it, and is taken at once.
	r := repairHarness(t) // n1, which wants t from n2, not cfg/a
	replicated := r.envFrom("n2", "cfg/a", 1)
	replicated.PrevSeq, replicated.Retain = 0, true
	r.pushFrom("n2", replicated)
	r.subscribe(3, 10, "cfg/#")
	routed := r.envFrom("n2", "cfg/a", 2) // prev 1
	effs := r.pushFrom("n2", routed)
	if got := payloads(effs, 3); !slices.Equal(got, []string{"m2"}) || len(of[*RequestResend](r.advance(time.Second))) != 0 {
		t.Fatalf("stream 3 got %v for the first routed message after a replication passed over, or a resend was asked", got)
	}
}

// A tombstone's age is judged by the monotonic clock of the node that
// keeps it, not by its wall clock against the clear's stamp: a node whose
// clock jumped ahead would drop it at the first sweep, take an older value
// a peer offers again, and hold another value than the rest (the swarm of
// 50 nodes at 500 msg/s under heavy faults, seed 8: a clock 11 minutes
// ahead).
func TestATombstoneOutlivesAWallClockJumpAhead(t *testing.T) {
	h := repairHarness(t)
	stamp := h.now.WallMs
	h.pushFrom("n2", Envelope{ID: "clear", Topic: "cfg", Source: "n2", SourceSeq: 1, Retain: true, TimestampMs: stamp})
	h.now.WallMs += (11 * time.Minute).Milliseconds()
	h.advance(3 * h.n.cfg.ReapInterval)
	h.pushFrom("n2", Envelope{ID: "older", Topic: "cfg", Payload: []byte("old"), Source: "n2", SourceSeq: 2, PrevSeq: 1, Retain: true, TimestampMs: stamp - 1000})
	if m := h.n.retained.byTopic["cfg"]; m == nil || m.ID != "clear" {
		t.Fatalf("cfg holds %v, want the clear's tombstone still", m)
	}
	h.advance(h.n.cfg.TombstoneTTL + 2*h.n.cfg.ReapInterval)
	if m := h.n.retained.byTopic["cfg"]; m != nil {
		t.Fatalf("the tombstone outlived TombstoneTTL of the node's own time: %v", m)
	}
}
