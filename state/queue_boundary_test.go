package state

import (
	"testing"
	"time"
)

// Boundaries of subscription queues, credit and retained values that the
// broader tests pass over (docs/protocol.md §6, §7).

// oneCost is what a queued message on topic with payload is charged.
func oneCost(topic, payload string) int {
	return len(topic) + len(payload) + msgOverheadBytes
}

// A queue whose messages fill QueueBytes exactly is not over it: the
// second of two messages that together cost exactly QueueBytes is queued
// beside the first, and only a third makes drop-oldest drop one.
func TestAQueueHoldingExactlyQueueBytesTakesTheMessageThatFillsIt(t *testing.T) {
	c := oneCost("t", "p1")
	h := newHarness(t, "n1", func(cfg *Config) { cfg.QueueBytes = 2 * c })
	h.start()
	id := h.fullSub(1, 10, DropOldest, "t")
	h.publish("t", "p1")
	if r := only[*CompletePublish](t, h.publish("t", "p2")).Result; r.Dropped != 0 {
		t.Fatalf("p2, which fills QueueBytes exactly, answered %+v, want nothing dropped", r)
	}
	if st := h.subStatus(id); st.Queued != 2 || st.Bytes != 2*c {
		t.Fatalf("Queued=%d Bytes=%d, want 2, %d", st.Queued, st.Bytes, 2*c)
	}
	h.publish("t", "p3")
	checkLog(t, h.grant(1, 10), 1, "warning slow_consumer dropped=1 expired=0 depth=2/10", "msg t#2 p2", "msg t#3 p3")
}

// Under the block policy, waiting bytes count against QueueBytes: a
// message that would take the waiters past it makes the longest waiter
// give way early (it takes the oldest queued message's place, and its
// publisher is answered then), though BlockedLimit is far off.
func TestABlockedMessageGivesWayEarlyWhenTheNextWouldPassQueueBytes(t *testing.T) {
	c := oneCost("t", "p1")
	h := newHarness(t, "n1", func(cfg *Config) { cfg.QueueBytes = 2 * c })
	h.start()
	id := h.fullSub(1, 1, Block, "t")
	h.publish("t", "p1") // queued
	if effs := h.publish("t", "p2"); len(of[*CompletePublish](effs)) != 0 {
		t.Fatalf("p2 answered at once, want it blocked:\n%s", describe(effs))
	}
	done := of[*CompletePublish](h.publish("t", "p3"))
	if len(done) != 1 || done[0].Req != 2 || done[0].Result.Dropped != 1 || done[0].Result.Blocked != 1 {
		t.Fatalf("p3's publish answered %v, want p2's answer (req 2, blocked=1 dropped=1) alone", done)
	}
	if st := h.subStatus(id); st.Queued != 2 || st.Bytes != 2*c {
		t.Fatalf("Queued=%d Bytes=%d, want 2 (p2 queued, p3 blocked) holding %d", st.Queued, st.Bytes, 2*c)
	}
	if bt := h.n.Status().Counters.BlockTimeouts; bt != 1 {
		t.Fatalf("BlockTimeouts = %d, want 1", bt)
	}
}

// A stream's byte credit is spent by each live message's payload and topic
// together, and a stream with exactly none left gets nothing more, however
// much event credit it has, until bytes are granted.
func TestByteCreditSpentExactlyByPayloadAndTopicHoldsBackTheNext(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 10, CreditBytes: len("t") + len("p1")})
	checkLog(t, h.publish("t", "p1"), 1, "msg t#1 p1")
	checkLog(t, h.publish("t", "p2"), 1)
	checkLog(t, h.step(&CreditGranted{Stream: 1, Bytes: 1}), 1, "msg t#2 p2")
}

// A loss exactly WarningInterval after the last warning went out is
// warned of at once, in the same step, not left to a timer.
func TestALossExactlyAWarningIntervalAfterTheLastWarningIsWarnedAtOnce(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.fullSub(1, 1, DropOldest, "t")
	h.publish("t", "p1")
	h.publish("t", "p2") // drops p1
	start := h.now.Mono
	checkLog(t, h.grant(1, 2), 1, "warning slow_consumer dropped=1 expired=0 depth=1/1", "msg t#2 p2")
	h.at(start, h.n.cfg.WarningInterval)
	h.publish("t", "p3")
	h.publish("t", "p4") // drops p3
	checkLog(t, h.grant(1, 10), 1, "warning slow_consumer dropped=2 expired=0 depth=1/1", "msg t#4 p4")
}

// A backpressure warning reports how long the oldest message still queued
// has waited, by the wall clock, at the moment it is handed out.
func TestAWarningReportsTheAgeOfTheOldestQueuedMessage(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.fullSub(1, 1, DropOldest, "t")
	h.publish("t", "p1")
	h.publish("t", "p2") // drops p1; p2 waits
	h.advance(250 * time.Millisecond)
	ws := warningsOf(h.grant(1, 1), 1)
	if len(ws) != 1 || ws[0].OldestAgeMs != 250 || ws[0].Depth != 1 {
		t.Fatalf("warnings %+v, want one with OldestAgeMs 250 and Depth 1", ws)
	}
}

// Granted credit accumulates only up to 1<<30 events, however much the
// shell grants.
func TestGrantedCreditIsCappedAtOneBillionEvents(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	id := h.subscribe(1, 1, "t")
	h.grant(1, 1<<30)
	h.grant(1, 1<<30)
	if c := h.subStatus(id).Credit; c != 1<<30 {
		t.Fatalf("Credit = %d, want %d", c, 1<<30)
	}
}

// When the node's budget is spent and a block-policy subscription's queue
// is the one to shed, its longest waiter is let in (as on timeout, at the
// cost of the oldest queued message) and a queued message is dropped for
// the budget as well, which its warning names.
func TestABlockSubscriptionShedForTheBudgetDropsAQueuedMessageBesideLettingInItsWaiter(t *testing.T) {
	c := oneCost("big", string(mib))
	dedup := newHarness(t, "n0").n.Memory().Total // fixed: the dedup filter
	h := newHarness(t, "n1", func(cfg *Config) { cfg.BudgetBytes = dedup + 2*c + c/2 })
	h.start()
	id := h.fullSub(1, 2, Block, "big")
	h.publish("big", string(mib))
	h.publish("big", string(mib)) // the ring gives way first
	if effs := h.publish("big", string(mib)); len(of[*CompletePublish](effs)) != 1 {
		t.Fatalf("the third publish not answered in its step, want its waiter let in for the budget:\n%s", describe(effs))
	}
	if st := h.subStatus(id); st.Queued != 1 || st.Dropped != 2 {
		t.Fatalf("Queued=%d Dropped=%d, want 1, 2", st.Queued, st.Dropped)
	}
	effs := h.grant(1, 10)
	if ws := warningsOf(effs, 1); len(ws) != 1 || ws[0].Reason != "memory_budget" || ws[0].Dropped != 2 {
		t.Fatalf("warnings %+v, want one memory_budget with 2 dropped", ws)
	}
	if got := seqsOf(effs, 1); len(got) != 1 || got[0] != 3 {
		t.Fatalf("handed out seqs %v, want [3]", got)
	}
}

// A drop-newest subscription shed for the node's budget gives up its
// newest queued message, keeping the oldest.
func TestADropNewestSubscriptionShedForTheBudgetGivesUpItsNewest(t *testing.T) {
	c := oneCost("big", string(mib))
	dedup := newHarness(t, "n0").n.Memory().Total // fixed: the dedup filter
	h := newHarness(t, "n1", func(cfg *Config) { cfg.BudgetBytes = dedup + 2*c + c/2 })
	h.start()
	h.fullSub(1, 10, DropNewest, "big")
	for range 3 {
		h.publish("big", string(mib)) // the ring gives way first, then the queue
	}
	effs := h.grant(1, 10)
	if ws := warningsOf(effs, 1); len(ws) != 1 || ws[0].Reason != "memory_budget" || ws[0].Dropped != 1 {
		t.Fatalf("warnings %+v, want one memory_budget with 1 dropped", ws)
	}
	if got := seqsOf(effs, 1); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("handed out seqs %v, want [1 2]", got)
	}
}

// A retained value that expires while it waits for credit is quietly not
// sent: unlike a live or replayed message, it is no loss of the
// subscriber's, so it counts as no expiry and brings no warning.
func TestARetainedValueExpiredBeforeItsTurnIsSkippedWithoutAWarning(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.publish("cfg/a", "1", retain, withTTL(1000))
	id := h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"cfg/#"}, ReceiveRetained: true, Policy: PolicyDefault, Credit: 1})
	h.advance(1500 * time.Millisecond)
	checkLog(t, h.grant(1, 10), 1)
	if st := h.subStatus(id); st.Expired != 0 || st.Pending != 0 {
		t.Fatalf("Expired=%d Pending=%d, want 0, 0", st.Expired, st.Pending)
	}
}

// A backpressure warning's queue depth counts the messages waiting beside
// the queue under the block policy as well as those queued.
func TestAWarningsDepthCountsBlockedMessages(t *testing.T) {
	c := oneCost("t", "p1")
	h := newHarness(t, "n1", func(cfg *Config) { cfg.QueueBytes = 2 * c })
	h.start()
	h.fullSub(1, 1, Block, "t")
	h.publish("t", "p1")
	h.publish("t", "p2") // blocked
	h.publish("t", "p3") // p2 gives way, dropping p1; p3 blocked
	ws := warningsOf(h.grant(1, 1), 1)
	if len(ws) != 1 || ws[0].Depth != 2 || ws[0].Dropped != 1 {
		t.Fatalf("warnings %+v, want one with Depth 2 (p2 queued, p3 blocked) and 1 dropped", ws)
	}
}
