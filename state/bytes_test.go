package state

import (
	"strings"
	"testing"
	"time"
)

// Bytes, not counts (memory.go): every store that holds messages is capped
// in bytes as well as in messages, and the node as a whole by BudgetBytes.
// The harness checks the full invariants (byte accounting equal to what is
// held) after every step of these tests.

var mib = []byte(strings.Repeat("x", 1<<20))

// One subscriber that never reads holds at most QueueBytes, however many
// large messages arrive; what it could not hold is dropped by its policy
// and counted.
func TestAStalledSubscriberHoldsAtMostQueueBytes(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	id := h.fullSub(1, 0, PolicyDefault, "big") // its one credit goes to the info
	for range 200 {
		h.n.Step(h.now, &Published{Req: 1, Topic: "big", Payload: mib})
	}
	st, sub := h.n.Status(), h.subStatus(id)
	queueCap := h.n.Config().QueueBytes
	if sub.Bytes > queueCap || st.Memory.Queues > queueCap {
		t.Fatalf("the stalled subscription holds %d bytes, the node counts %d; cap %d", sub.Bytes, st.Memory.Queues, queueCap)
	}
	if sub.Dropped == 0 || sub.Queued+int(sub.Dropped) != 200 {
		t.Fatalf("queued %d and dropped %d of 200", sub.Queued, sub.Dropped)
	}
	if err := h.n.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// A peer that never answers holds at most PeerBacklogBytes of pushes (in
// flight and waiting); the oldest waiting go, and are counted as shed.
func TestAPeerThatNeverAnswersHoldsAtMostPeerBacklogBytes(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "big")
	for range 300 {
		h.n.Step(h.now, &Published{Req: 1, Topic: "big", Payload: mib})
	}
	st := h.n.Status()
	limit := h.n.Config().PeerBacklogBytes + (1<<20 + msgOverheadBytes + 3)
	if st.Memory.Backlogs > limit {
		t.Fatalf("the peer's pushes hold %d bytes, cap %d", st.Memory.Backlogs, h.n.Config().PeerBacklogBytes)
	}
	if st.Counters.Shed["backlog"] == 0 || st.Counters.BacklogDropped != st.Counters.Shed["backlog"] {
		t.Fatalf("shed %d, dropped %d: want the drops counted as shed", st.Counters.Shed["backlog"], st.Counters.BacklogDropped)
	}
	if err := h.n.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// What a dead peer missed is kept for its return, up to PeerBacklogBytes.
func TestWhatADeadPeerMissedIsCappedInBytes(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "big")
	h.killPeer(t, "n2")
	for range 300 {
		h.n.Step(h.now, &Published{Req: 1, Topic: "big", Payload: mib})
	}
	st := h.n.Status()
	if cap := h.n.Config().PeerBacklogBytes; st.Memory.Departed > cap || st.Counters.Shed["departed"] == 0 {
		t.Fatalf("a dead peer's missed messages hold %d bytes (cap %d), %d shed", st.Memory.Departed, cap, st.Counters.Shed["departed"])
	}
}

// Empty messages are not free: each costs its topic and the fixed overhead,
// so many over many topics fill the rings' byte cap and the oldest go.
func TestEmptyMessagesOverManyTopicsCountAgainstTheRingCap(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.RingBytes = 4 << 20 })
	h.start()
	for i := range 100_000 {
		h.n.Step(h.now, &Published{Req: 1, Topic: "t/" + itoa(i%50_000)})
	}
	st := h.n.Status()
	if st.BufferedBytes > 4<<20 || st.BufferedMsgs > 4<<20/msgOverheadBytes {
		t.Fatalf("rings hold %d messages, %d bytes; cap 4 MiB", st.BufferedMsgs, st.BufferedBytes)
	}
	if st.Counters.Shed["ring"] == 0 {
		t.Fatal("nothing counted as shed")
	}
}

// When the whole node passes BudgetBytes, the rings give first (replay and
// repair reach back less far), then the largest subscription queues, by
// their policy, each subscriber warned; the node ends within its budget.
func TestBudgetShedsRingsFirstThenTheLargestQueues(t *testing.T) {
	budget := 16 << 20
	h := newHarness(t, "n1", func(c *Config) { c.BudgetBytes = budget })
	h.start()
	a := h.fullSub(1, 0, DropOldest, "big")
	b := h.fullSub(2, 0, DropNewest, "big")
	quarter := mib[:256<<10]
	for range 40 { // 10 MiB, held three times: the ring and two queues
		h.n.Step(h.now, &Published{Req: 1, Topic: "big", Payload: quarter})
	}
	st := h.n.Status()
	if st.Memory.Total > budget {
		t.Fatalf("the node holds %d bytes, budget %d", st.Memory.Total, budget)
	}
	if st.Counters.Shed["ring"] == 0 || st.Counters.Shed["queue"] == 0 {
		t.Fatalf("shed %v: want the rings and then queues to give", st.Counters.Shed)
	}
	sa, sb := h.subStatus(a), h.subStatus(b)
	if sa.Dropped == 0 || sb.Dropped == 0 {
		t.Fatalf("dropped %d and %d: both queues should have given", sa.Dropped, sb.Dropped)
	}
	// Each subscriber learns of it when it reads again.
	for stream, id := range map[uint64]string{1: a, 2: b} {
		ws := warningsOf(h.grant(stream, 1), stream)
		if len(ws) != 1 || ws[0].Reason != "memory_budget" || ws[0].Dropped != h.subStatus(id).Dropped {
			t.Fatalf("stream %d warned %+v", stream, ws)
		}
	}
}

// With the budget spent and nothing left to shed, more retained values are
// refused with an error that names the budget's flag.
func TestRetainedValuesAreRefusedWhileTheBudgetIsSpent(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.BudgetBytes = 4 << 20 })
	h.start()
	var refused error
	for i := range 10 {
		if r := only[*CompletePublish](t, h.publish("cfg/"+itoa(i), string(mib), retain)); r.Err != nil {
			refused = r.Err
			break
		}
	}
	if refused == nil || CodeOf(refused) != Limit || !strings.Contains(refused.Error(), "--max-buffer-bytes") {
		t.Fatalf("retained publishes past the budget: %v", refused)
	}
	if st := h.n.Status(); st.Memory.Total > 4<<20 {
		t.Fatalf("holds %d bytes, budget 4 MiB", st.Memory.Total)
	}
}

// A stream's room counted in bytes (CreditBytes) holds back large
// messages: the shell buffers at most about that much for a subscriber.
func TestByteCreditHoldsBackLargeMessages(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"big"}, Policy: PolicyDefault, Credit: 100, CreditBytes: 3 << 20})
	var effs []Effect
	for range 10 {
		effs = append(effs, h.publish("big", string(mib))...)
	}
	if got := len(outsOf(effs, 1)); got != 3 {
		t.Fatalf("handed out %d messages of 1 MiB on 3 MiB of byte credit, want 3", got)
	}
	if got := len(outsOf(h.step(&CreditGranted{Stream: 1, N: 2, Bytes: 2 << 20}), 1)); got != 2 {
		t.Fatalf("handed out %d more on 2 MiB more, want 2", got)
	}
	h.advance(time.Millisecond)
}

func itoa(i int) string {
	const digits = "0123456789"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{digits[i%10]}, b...)
	}
	return string(b)
}
