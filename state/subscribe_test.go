package state

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Subscriptions (SubscribeRequest; docs/protocol.md §6.4, §7.2): several
// patterns, a client id, retained values on request, a queue limit the
// request may lower, and an end with the stream.

func TestSubscriptionWithSeveralPatternsGetsEachMatchingMessageOnce(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 100, "a/+", "b/#", "a/x", "a/+")
	var effs []Effect
	for _, topic := range []string{"a/x", "b", "b/c/d", "c", "a/y", "a/y/z"} {
		effs = append(effs, h.publish(topic, topic)...)
	}
	checkLog(t, effs, 1, "msg a/x#1 a/x", "msg b#1 b", "msg b/c/d#1 b/c/d", "msg a/y#1 a/y")
	subs := h.n.Subscriptions()
	if len(subs) != 1 || !slices.Equal(subs[0].Patterns, []string{"a/+", "a/x", "b/#"}) {
		t.Fatalf("subscriptions %+v, want one with patterns [a/+ a/x b/#]", subs)
	}
	if got := completions(effs)[1].Result.Subscribers; got != 1 {
		t.Fatalf("a/x matched two patterns of one subscription: Subscribers = %d, want 1", got)
	}
}

func TestSubscriptionRecordsItsClientID(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	id := h.subscribeReq(&Subscribed{Stream: 7, Patterns: []string{"a"}, ClientID: "billing-7", Policy: PolicyDefault, Credit: 1})
	if got := h.subStatus(id); got.ClientID != "billing-7" || got.Stream != 7 {
		t.Fatalf("status %+v, want ClientID billing-7 on stream 7", got)
	}
}

func TestReceiveRetainedSendsMatchingRetainedValuesRightAfterInfo(t *testing.T) {
	cases := []struct {
		retained bool
		want     []string
	}{
		{false, []string{"info", "msg a/1#2 live"}},
		{true, []string{"info", "retained a/1#1 v1", "retained a/2#1 v2", "msg a/1#2 live"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint("receive_retained=", tc.retained), func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			h.publish("a/2", "v2", retain)
			h.publish("a/1", "v1", retain)
			h.publish("b", "vb", retain)
			h.publish("a/3", "not retained")
			effs := h.step(&Subscribed{Stream: 1, Patterns: []string{"a/+"}, ReceiveRetained: tc.retained, Policy: PolicyDefault, Credit: 10})
			effs = append(effs, h.publish("a/1", "live")...)
			checkLog(t, effs, 1, tc.want...)
		})
	}
}

func TestQueueLimitRequestLowersTheLimitAndLargerValuesAreCapped(t *testing.T) {
	cases := []struct {
		request, want int
	}{
		{0, 8}, // the node's limit
		{1, 1},
		{5, 5},
		{8, 8},
		{9, 8},
		{1 << 30, 8},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint("max_buffer_size=", tc.request), func(t *testing.T) {
			h := newHarness(t, "n1", func(c *Config) { c.QueueLimit = 8 })
			h.start()
			id := h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"a"}, QueueLimit: tc.request, Policy: DropOldest, Credit: 1})
			for i := range 12 {
				h.publish("a", fmt.Sprint(i))
			}
			st := h.subStatus(id)
			if st.Limit != tc.want || st.Queued != tc.want || st.Dropped != uint64(12-tc.want) {
				t.Fatalf("Limit=%d Queued=%d Dropped=%d, want %d, %d, %d", st.Limit, st.Queued, st.Dropped, tc.want, tc.want, 12-tc.want)
			}
		})
	}
}

func TestSubscriptionEndsWithItsStreamAndItsPatternsLeaveTheHash(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 10, "a/#", "b")
	h.subscribe(2, 10, "b")
	if got, want := h.n.Hash(), TopicStateHash([]string{"a/#", "b"}); got != want {
		t.Fatalf("hash %016x, want %016x", got, want)
	}

	effs := h.step(&StreamClosed{Stream: 1})
	if len(of[*EndStream](effs)) > 1 {
		t.Fatalf("closing stream 1 gave %d EndStreams", len(of[*EndStream](effs)))
	}
	if got := h.n.Patterns(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("patterns %v, want [b]: b is still held by stream 2", got)
	}
	if got, want := h.n.Hash(), TopicStateHash([]string{"b"}); got != want {
		t.Fatalf("hash %016x, want %016x", got, want)
	}
	if st := h.n.Status(); st.Subscriptions != 1 || st.Paused != 0 {
		t.Fatalf("Subscriptions=%d Paused=%d, want 1, 0", st.Subscriptions, st.Paused)
	}
	effs = h.publish("a/x", "gone")
	if r := only[*CompletePublish](t, effs).Result; r.Subscribers != 0 || len(of[*Deliver](effs)) != 0 {
		t.Fatalf("a publish after the stream ended reached %d subscribers:\n%s", r.Subscribers, describe(effs))
	}

	h.step(&StreamClosed{Stream: 2})
	if got := h.n.Hash(); got != 0 || len(h.n.Patterns()) != 0 || len(h.n.Subscriptions()) != 0 {
		t.Fatalf("after both streams ended: hash %016x, patterns %v, subscriptions %d", got, h.n.Patterns(), len(h.n.Subscriptions()))
	}
}

func TestStreamEndOfAPausedSubscriptionKeepsIt(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	id := h.subscribe(1, 10, "a")
	h.pause(id)
	h.step(&StreamClosed{Stream: 1})
	if st := h.subStatus(id); !st.Paused {
		t.Fatalf("status %+v, want paused", st)
	}
	if got, want := h.n.Hash(), TopicStateHash([]string{"a"}); got != want {
		t.Fatalf("hash %016x, want %016x", got, want)
	}
}

// A subscription that asked for a resume window outlives a stream that
// ends without Unsubscribe (its client's connection broke): it is kept
// paused for the window, its pattern stays in the hash and its messages go
// on into the ring, and a resume by id replays them. Once the window runs
// out it is removed.
func TestBrokenStreamKeepsASubscriptionWithAResumeWindowPaused(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	id := h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"a"}, Policy: PolicyDefault, Credit: 10, ResumeWindow: time.Minute})
	checkLog(t, h.publish("a", "before"), 1, "msg a#1 before")
	h.step(&StreamClosed{Stream: 1})
	if st := h.subStatus(id); !st.Paused || st.PausedFor != time.Minute {
		t.Fatalf("status %+v, want paused for the resume window", st)
	}
	if got, want := h.n.Hash(), TopicStateHash([]string{"a"}); got != want {
		t.Fatalf("hash %016x, want the pattern still in it (%016x)", got, want)
	}
	h.publish("a", "while-away")
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a": 1}, Mode: RecoverReplay, Credit: 10})
	checkLog(t, effs, 2, "info replay", "replay a#2 while-away", "replay-complete a count=1 latest=2")

	h.step(&StreamClosed{Stream: 2})
	h.advance(time.Minute)
	if len(h.n.Subscriptions()) != 0 || h.n.Hash() != 0 {
		t.Fatalf("still held after the resume window: %+v", h.n.Subscriptions())
	}
	if h.n.Status().Counters.SubscriptionsOrphaned != 2 {
		t.Fatal("orphaned subscriptions not counted")
	}
}
