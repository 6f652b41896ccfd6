package state

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Bounded subscription queues, credit, policies and backpressure warnings
// (docs/protocol.md §7.1, §7.2).

// fullSub opens a subscription on stream with the given limit and policy
// whose one credit went to its info event, so everything after queues.
func (h *harness) fullSub(stream uint64, limit int, policy Policy, patterns ...string) string {
	h.t.Helper()
	return h.subscribeReq(&Subscribed{Stream: stream, Patterns: patterns, QueueLimit: limit, Policy: policy, Credit: 1})
}

func TestMessagesAreHandedOutOnlyAsCreditAllows(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	id := h.fullSub(1, 0, PolicyDefault, "t")
	var effs []Effect
	for i := 1; i <= 5; i++ {
		effs = append(effs, h.publish("t", fmt.Sprint("p", i))...)
	}
	if n := len(of[*Deliver](effs)); n != 0 {
		t.Fatalf("%d events without credit:\n%s", n, describe(effs))
	}
	steps := []struct {
		credit int
		want   []string
	}{
		{2, []string{"msg t#1 p1", "msg t#2 p2"}},
		{1, []string{"msg t#3 p3"}},
		{10, []string{"msg t#4 p4", "msg t#5 p5"}},
	}
	for _, s := range steps {
		checkLog(t, h.grant(1, s.credit), 1, s.want...)
	}
	checkLog(t, h.publish("t", "p6"), 1, "msg t#6 p6")
	if st := h.subStatus(id); st.Credit != 7 || st.Queued != 0 || st.Delivered != 6 {
		t.Fatalf("Credit=%d Queued=%d Delivered=%d, want 7, 0, 6", st.Credit, st.Queued, st.Delivered)
	}
}

func TestDropPoliciesDiscardTheOldestOrTheNewest(t *testing.T) {
	cases := []struct {
		policy Policy
		want   []string
	}{
		{DropOldest, []string{"warning slow_consumer dropped=2 expired=0 depth=3/3", "msg t#3 p3", "msg t#4 p4", "msg t#5 p5"}},
		{DropNewest, []string{"warning burst dropped=2 expired=0 depth=3/3", "msg t#1 p1", "msg t#2 p2", "msg t#3 p3"}},
	}
	for _, tc := range cases {
		t.Run(tc.policy.String(), func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			h.fullSub(1, 3, tc.policy, "t")
			var effs []Effect
			for i := 1; i <= 5; i++ {
				effs = append(effs, h.publish("t", fmt.Sprint("p", i))...)
			}
			done := completions(effs)
			for req := uint64(1); req <= 5; req++ {
				wantDropped := 0
				if req > 3 {
					wantDropped = 1
				}
				if r := done[req].Result; r.Subscribers != 1 || r.Dropped != wantDropped || r.Blocked != 0 {
					t.Fatalf("publish %d: %+v, want Subscribers 1, Dropped %d, Blocked 0", req, r, wantDropped)
				}
			}
			checkLog(t, h.grant(1, 10), 1, tc.want...)
			if c := h.n.Status().Counters; c.Dropped != 2 {
				t.Fatalf("Counters.Dropped = %d, want 2", c.Dropped)
			}
		})
	}
}

func TestBlockPolicyAnswersThePublisherWhenCreditFreesRoom(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.fullSub(1, 1, Block, "t")
	effs := h.publish("t", "p1")
	if r := only[*CompletePublish](t, effs).Result; r.Subscribers != 1 || r.Blocked != 0 || r.Dropped != 0 {
		t.Fatalf("publish 1 (room in the queue): %+v", r)
	}
	for _, p := range []string{"p2", "p3"} {
		if effs := h.publish("t", p); len(of[*CompletePublish](effs)) != 0 {
			t.Fatalf("publish %s answered while blocked:\n%s", p, describe(effs))
		}
	}
	for i, want := range []struct {
		req uint64
		msg string
	}{{2, "msg t#1 p1"}, {3, "msg t#2 p2"}} {
		effs := h.grant(1, 1)
		checkLog(t, effs, 1, want.msg)
		c := only[*CompletePublish](t, effs)
		if c.Req != want.req || c.Err != nil || c.Result.Subscribers != 1 || c.Result.Blocked != 1 || c.Result.Dropped != 0 {
			t.Fatalf("grant %d: answer %v, want req %d with subscribers=1 blocked=1 dropped=0", i, c, want.req)
		}
	}
	effs = h.grant(1, 1)
	checkLog(t, effs, 1, "msg t#3 p3")
	if n := len(of[*CompletePublish](effs)); n != 0 {
		t.Fatalf("%d answers with nobody blocked", n)
	}
	if st := h.n.Status().Counters; st.Dropped != 0 || st.BlockTimeouts != 0 {
		t.Fatalf("Dropped=%d BlockTimeouts=%d, want 0, 0", st.Dropped, st.BlockTimeouts)
	}
}

func TestBlockPolicyGivesUpAfterBlockTimeoutAndDropsOldest(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.BlockTimeout = 2 * time.Second })
	h.start()
	h.fullSub(1, 1, Block, "t")
	h.publish("t", "p1")
	start := h.now.Mono
	if effs := h.publish("t", "p2"); len(of[*CompletePublish](effs)) != 0 {
		t.Fatalf("blocked publish answered at once:\n%s", describe(effs))
	}
	if effs := h.at(start, 2*time.Second-time.Millisecond); len(of[*CompletePublish](effs)) != 0 {
		t.Fatalf("blocked publish answered before BlockTimeout:\n%s", describe(effs))
	}
	effs := h.at(start, 2*time.Second)
	c := only[*CompletePublish](t, effs)
	if c.Req != 2 || c.Err != nil || c.Result.Subscribers != 1 || c.Result.Blocked != 1 || c.Result.Dropped != 1 {
		t.Fatalf("answer %v, want req 2 with subscribers=1 blocked=1 dropped=1", c)
	}
	checkLog(t, h.grant(1, 10), 1, "warning slow_consumer dropped=1 expired=0 depth=1/1", "msg t#2 p2")
	if st := h.n.Status().Counters; st.Dropped != 1 || st.BlockTimeouts != 1 {
		t.Fatalf("Dropped=%d BlockTimeouts=%d, want 1, 1", st.Dropped, st.BlockTimeouts)
	}
}

func TestPublishResultCountsSubscribersDroppedAndBlocked(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "t")
	h.subscribe(1, 100, "t")          // takes everything
	h.fullSub(2, 1, DropOldest, "#")  // full after one
	h.fullSub(3, 1, DropNewest, "+")  // full after one
	h.fullSub(4, 1, Block, "t", "#")  // full after one; two patterns, one subscription
	h.fullSub(5, 1, Block, "other/t") // not matching
	first := completions(h.publish("t", "p1"))[1].Result
	if first.Subscribers != 5 || first.Dropped != 0 || first.Blocked != 0 {
		t.Fatalf("first publish %+v, want Subscribers 5 (4 local, 1 peer), Dropped 0, Blocked 0", first)
	}
	if effs := h.publish("t", "p2"); len(of[*CompletePublish](effs)) != 0 {
		t.Fatalf("publish answered while stream 4 blocks it:\n%s", describe(effs))
	}
	c := only[*CompletePublish](t, h.grant(4, 1))
	if c.Req != 2 || c.Result.Subscribers != 5 || c.Result.Dropped != 2 || c.Result.Blocked != 1 {
		t.Fatalf("second publish %v, want req 2 subscribers=5 dropped=2 blocked=1", c)
	}
}

func TestBackpressureWarningsAtMostOnePerIntervalWithCumulativeTotals(t *testing.T) {
	// Two consumers that each take one message per 10ms while two arrive:
	// every round drops one for each, for 5 seconds. The second starts
	// half a second later, so its warnings keep their own pace.
	h := newHarness(t, "n1")
	h.start()
	start := h.now.Mono
	type seen struct {
		at      time.Duration
		warning Warning
		dropped uint64 // the subscription's total when the warning went out
	}
	ids := map[uint64]string{1: h.fullSub(1, 1, DropOldest, "t")}
	warnings := map[uint64][]seen{}
	for round := 1; round <= 500; round++ {
		h.at(start, time.Duration(round)*10*time.Millisecond)
		if round == 50 {
			ids[2] = h.fullSub(2, 1, DropOldest, "t")
		}
		h.publish("t", "a")
		h.publish("t", "b")
		for stream, id := range ids {
			for _, w := range warningsOf(h.grant(stream, 1), stream) {
				warnings[stream] = append(warnings[stream], seen{h.now.Mono - start, w, h.subStatus(id).Dropped})
			}
		}
	}
	ms := func(ms ...int) []time.Duration {
		var out []time.Duration
		for _, m := range ms {
			out = append(out, time.Duration(m)*time.Millisecond)
		}
		return out
	}
	for stream, want := range map[uint64][]time.Duration{
		1: ms(10, 1010, 2010, 3010, 4010),
		2: ms(500, 1500, 2500, 3500, 4500),
	} {
		var at []time.Duration
		for i, w := range warnings[stream] {
			at = append(at, w.at)
			if w.warning.Dropped != w.dropped || w.warning.Reason != "slow_consumer" || w.warning.Limit != 1 || w.warning.Expired != 0 {
				t.Errorf("stream %d warning %d at %s: %+v, want slow_consumer with the %d dropped so far", stream, i, w.at, w.warning, w.dropped)
			}
			if i > 0 && w.warning.Dropped <= warnings[stream][i-1].warning.Dropped {
				t.Errorf("stream %d warning %d: Dropped %d does not grow from %d", stream, i, w.warning.Dropped, warnings[stream][i-1].warning.Dropped)
			}
		}
		if !slices.Equal(at, want) {
			t.Fatalf("stream %d: warnings at %v, want %v", stream, at, want)
		}
	}
	// One drop a round, and one more after each of the 5 rounds whose
	// credit went to a warning instead of a message.
	if s := h.subStatus(ids[1]); s.Dropped != 505 || s.Delivered != 495 {
		t.Fatalf("stream 1: Dropped=%d Delivered=%d, want 505, 495", s.Dropped, s.Delivered)
	}
	if c := h.n.Status().Counters; c.Warnings != 10 {
		t.Fatalf("Counters.Warnings = %d, want 10", c.Warnings)
	}
}

func TestSlowSubscriptionNeverDelaysAnother(t *testing.T) {
	for _, policy := range []Policy{DropOldest, DropNewest, Block} {
		t.Run(policy.String(), func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			h.fullSub(1, 5, policy, "t") // slow: no credit after its info
			h.subscribe(2, 1000, "t")    // fast
			for i := 1; i <= 100; i++ {
				effs := h.publish("t", fmt.Sprint("p", i))
				checkLog(t, effs, 2, fmt.Sprintf("msg t#%d p%d", i, i))
				checkLog(t, effs, 1)
			}
			st := h.n.Subscriptions()
			for _, s := range st {
				if s.Stream == 2 && (s.Delivered != 100 || s.Queued != 0) {
					t.Fatalf("fast subscription %+v, want 100 delivered and none queued", s)
				}
			}
		})
	}
}

func TestBlockedPublisherIsAnsweredWhenTheSlowSubscriptionEnds(t *testing.T) {
	cases := []struct {
		name string
		end  func(h *harness, id string) []Effect
	}{
		{"stream closed", func(h *harness, id string) []Effect { return h.step(&StreamClosed{Stream: 1}) }},
		{"unsubscribed", func(h *harness, id string) []Effect {
			return h.step(&Unsubscribed{Req: 99, SubID: id})
		}},
		{"paused", func(h *harness, id string) []Effect { return h.step(&Unsubscribed{Req: 99, SubID: id, Pause: true}) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			id := h.fullSub(1, 1, Block, "t")
			h.publish("t", "p1")
			if effs := h.publish("t", "p2"); len(of[*CompletePublish](effs)) != 0 {
				t.Fatalf("blocked publish answered at once:\n%s", describe(effs))
			}
			effs := tc.end(h, id)
			c := only[*CompletePublish](t, effs)
			if c.Req != 2 || c.Err != nil || c.Result.Subscribers != 1 || c.Result.Blocked != 1 || c.Result.Dropped != 0 {
				t.Fatalf("answer %v, want req 2 with subscribers=1 blocked=1 dropped=0", c)
			}
			if got := h.ringSeqs("t"); !slices.Equal(got, []uint64{1, 2}) {
				t.Fatalf("ring %v, want [1 2]: the blocked message is kept for replay", got)
			}
			if effs := h.advance(10 * time.Second); len(of[*CompletePublish](effs)) != 0 {
				t.Fatalf("answered twice:\n%s", describe(effs))
			}
		})
	}
}

// A block-policy subscription with nothing blocked yet may not block a
// message that would take it past QueueBytes: blocked bytes are held like
// queued ones. Like a waiter whose time ran out, the message takes the
// oldest's place at once, and its publisher is told what was dropped.
func TestBlockPolicyKeepsTheByteCapWithNothingBlocked(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.QueueBytes = 700 }) // two messages of ~323 bytes
	h.start()
	h.fullSub(1, 10, Block, "t")
	h.publish("t", "p1")
	h.publish("t", "p2")
	effs := h.publish("t", "p3") // the harness checks the invariants after every step
	c := only[*CompletePublish](t, effs)
	if c.Err != nil || c.Result.Subscribers != 1 || c.Result.Dropped != 1 || c.Result.Blocked != 0 {
		t.Fatalf("p3 answered %v, want at once with subscribers=1 dropped=1", c)
	}
	checkLog(t, h.grant(1, 10), 1, "warning slow_consumer dropped=1 expired=0 depth=2/10", "msg t#2 p2", "msg t#3 p3")
}

// A publish held by the block policy is answered from a record the node
// keeps until then, and the node uses that record again for the next
// held publish: the answer it gives then is that publish's own, nothing
// of the one before left in it.
func TestAHeldPublishsAnswerIsItsOwnWhenItsRecordIsUsedAgain(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.fullSub(1, 1, Block, "t")
	h.fullSub(2, 1, DropOldest, "t")
	h.publish("t", "p1") // handed out to both
	if effs := h.publish("t", "p2"); len(of[*CompletePublish](effs)) != 0 {
		t.Fatalf("p2 answered while stream 1 blocks it:\n%s", describe(effs))
	}
	req2 := h.req
	second := only[*CompletePublish](t, h.grant(1, 1))
	if r := second.Result; second.Req != req2 || r.Subscribers != 2 || r.Blocked != 1 || r.Dropped != 1 || r.MessageID == "" {
		t.Fatalf("p2's answer %v, want req %d subscribers=2 blocked=1 dropped=1 and an id", second, req2)
	}
	if len(h.n.freePubs) != 1 {
		t.Fatalf("%d answered records kept, want p2's", len(h.n.freePubs))
	}
	h.grant(2, 3) // stream 2 has room again
	var held *CompletePublish
	for i := 3; held == nil && i < 6; i++ {
		if effs := h.publish("t", fmt.Sprint("p", i)); len(of[*CompletePublish](effs)) == 0 {
			req := h.req
			if len(h.n.freePubs) != 0 {
				t.Fatalf("%d answered records kept with p%d held, want p2's used for it", len(h.n.freePubs), i)
			}
			held = only[*CompletePublish](t, h.grant(1, 1))
			if r := held.Result; held.Req != req || r.Subscribers != 2 || r.Blocked != 1 || r.Dropped != 0 || r.MessageID == "" || r.MessageID == second.Result.MessageID {
				t.Fatalf("p%d's answer %v, want req %d subscribers=2 blocked=1 dropped=0 and an id of its own (p2's was %s)", i, held, req, second.Result.MessageID)
			}
		}
	}
	if held == nil {
		t.Fatal("no later publish was held")
	}
}
