package state

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// Pause and resume (docs/protocol.md §8).

// pausedAfter subscribes stream 1 to a/#, delivers a/x#1 and a/x#2 on it,
// pauses the subscription, then publishes payloads p3... to a/x during the
// pause, one per entry of during (an entry names the topic).
func pausedAfter(t *testing.T, during []string, mods ...func(*Config)) (*harness, string) {
	t.Helper()
	h := newHarness(t, "n1", mods...)
	h.start()
	id := h.subscribe(1, 100, "a/#")
	effs := h.publish("a/x", "p1")
	effs = append(effs, h.publish("a/x", "p2")...)
	checkLog(t, effs, 1, "msg a/x#1 p1", "msg a/x#2 p2")
	if done := h.pause(id); done.Err != nil {
		t.Fatalf("pause: %v", done.Err)
	}
	for i, topic := range during {
		h.publish(topic, fmt.Sprint("p", i+3))
	}
	return h, id
}

func during(topic string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = topic
	}
	return out
}

func TestPauseReturnsPauseTTLAndKeepsPatternsInTheHash(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	id := h.subscribe(1, 10, "a/#", "b")
	hash := h.n.Hash()
	h.req++
	effs := h.step(&Unsubscribed{Req: h.req, SubID: id, Pause: true})
	done := only[*CompleteUnsubscribe](t, effs)
	if done.Err != nil || done.PauseTTL != 300*time.Second {
		t.Fatalf("pause answer %v, want pause-ttl=300s", done)
	}
	checkLog(t, effs, 1, "end")
	if h.n.Hash() != hash || !slices.Equal(h.n.Patterns(), []string{"a/#", "b"}) {
		t.Fatalf("pause changed the hash to %016x (patterns %v)", h.n.Hash(), h.n.Patterns())
	}
	if st := h.n.Status(); st.Paused != 1 || st.Subscriptions != 0 {
		t.Fatalf("Paused=%d Subscriptions=%d, want 1, 0", st.Paused, st.Subscriptions)
	}
	h.advance(10 * time.Second)
	if again := h.pause(id); again.Err != nil || again.PauseTTL != 290*time.Second {
		t.Fatalf("second pause answer %v, want the 290s left", again)
	}
}

func TestMessagesPublishedDuringPauseAreRinged(t *testing.T) {
	h, _ := pausedAfter(t, nil)
	var effs []Effect
	for i := 3; i <= 5; i++ {
		effs = append(effs, h.publish("a/x", fmt.Sprint("p", i))...)
	}
	if n := len(of[*Deliver](effs)); n != 0 {
		t.Fatalf("a paused subscription got %d events", n)
	}
	if got := h.ringSeqs("a/x"); !slices.Equal(got, seqRange(1, 5)) {
		t.Fatalf("ring %v, want 1..5", got)
	}
	// The ring holds them, not a queue: a paused subscription is reached
	// by nothing.
	for req, c := range completions(effs) {
		if c.Result.Subscribers != 0 {
			t.Fatalf("publish %d reached %d subscribers, want 0", req, c.Result.Subscribers)
		}
	}
	if st := h.n.Status(); st.QueuedMsgs != 0 || st.BufferedMsgs != 5 {
		t.Fatalf("QueuedMsgs=%d BufferedMsgs=%d, want 0, 5", st.QueuedMsgs, st.BufferedMsgs)
	}
}

func TestResumeReplaysWhatThePauseMissed(t *testing.T) {
	cases := []struct {
		name    string
		lastSeq map[string]uint64
	}{
		{"every topic given", map[string]uint64{"a/x": 2, "a/y": 0}},
		{"topic the client never saw left out", map[string]uint64{"a/x": 2}},
		{"topic the pattern does not match ignored", map[string]uint64{"a/x": 2, "zz": 7}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, id := pausedAfter(t, []string{"a/x", "a/y", "a/x"})
			effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: tc.lastSeq, Mode: RecoverReplay, Credit: 100})
			checkLog(t, effs, 2,
				"info replay",
				"replay a/x#3 p3", "replay a/x#4 p5", "replay-complete a/x count=2 latest=4",
				"replay a/y#1 p4", "replay-complete a/y count=1 latest=1")
			if st := h.subStatus(id); st.Paused || st.Stream != 2 {
				t.Fatalf("after resume: %+v", st)
			}
		})
	}
}

func TestResumeReportsGapWhenTheRingNoLongerHoldsTheMissedMessages(t *testing.T) {
	h, id := pausedAfter(t, during("a/x", 8), func(c *Config) { c.MessageBufferSize = 3 })
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverReplay, Credit: 100})
	checkLog(t, effs, 2,
		"info gap missed=5 replay",
		"replay a/x#8 p8", "replay a/x#9 p9", "replay a/x#10 p10", "replay-complete a/x count=3 latest=10")
	info := outsOf(effs, 2)[0].Info
	if !info.GapDetected || info.Missed != 5 {
		t.Fatalf("info %+v, want GapDetected and Missed 5", info)
	}
}

func TestResumeGoesOnLiveWithNoGapAndNoDuplicate(t *testing.T) {
	t.Run("publish right after resume", func(t *testing.T) {
		h, id := pausedAfter(t, during("a/x", 3))
		effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverReplay, Credit: 100})
		effs = append(effs, h.publish("a/x", "p6")...)
		checkLog(t, effs, 2,
			"info replay", "replay a/x#3 p3", "replay a/x#4 p4", "replay a/x#5 p5",
			"replay-complete a/x count=3 latest=5", "msg a/x#6 p6")
	})
	t.Run("live published while replay waits for credit", func(t *testing.T) {
		h, id := pausedAfter(t, during("a/x", 3))
		var effs []Effect
		effs = append(effs, h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverReplay, Credit: 3})...)
		effs = append(effs, h.publish("a/x", "p6")...)
		checkLog(t, effs, 2, "info replay", "replay a/x#3 p3", "replay a/x#4 p4")
		effs = append(effs, h.grant(2, 1)...)
		effs = append(effs, h.publish("a/x", "p7")...)
		effs = append(effs, h.grant(2, 10)...)
		effs = append(effs, h.publish("a/x", "p8")...)
		checkLog(t, effs, 2,
			"info replay", "replay a/x#3 p3", "replay a/x#4 p4", "replay a/x#5 p5",
			"replay-complete a/x count=3 latest=5", "msg a/x#6 p6", "msg a/x#7 p7", "msg a/x#8 p8")
	})
}

func TestResumeAtTheHeadReplaysNothing(t *testing.T) {
	h, id := pausedAfter(t, during("a/x", 3))
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 5}, Mode: RecoverReplay, Credit: 100})
	effs = append(effs, h.publish("a/x", "p6")...)
	checkLog(t, effs, 2, "info", "msg a/x#6 p6")
}

func TestResumeInRetainedModeSendsRetainedValuesInsteadOfReplay(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	id := h.subscribe(1, 100, "a/#")
	h.publish("a/cfg", "v1", retain)
	h.publish("a/x", "p1")
	h.pause(id)
	h.publish("a/x", "p2")
	h.publish("a/cfg", "v2", retain)
	h.publish("b/cfg", "other", retain)
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 1, "a/cfg": 1}, Mode: RecoverRetained, Credit: 100})
	effs = append(effs, h.publish("a/x", "p3")...)
	checkLog(t, effs, 2, "info", "retained a/cfg#2 v2", "msg a/x#3 p3")
}

func TestResumeInNoneModeReplaysNothing(t *testing.T) {
	h, id := pausedAfter(t, during("a/x", 3))
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverNone, Credit: 100})
	effs = append(effs, h.publish("a/x", "p6")...)
	checkLog(t, effs, 2, "info", "msg a/x#6 p6")
}

func TestResumeOfUnknownSubscriptionEndsTheStreamWithNotFound(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	effs := h.step(&Resumed{Stream: 2, SubID: "no-such-subscription", Mode: RecoverReplay, Credit: 10})
	checkLog(t, effs, 2, "end err=not-found")
	if err := only[*EndStream](t, effs).Err; CodeOf(err) != NotFound {
		t.Fatalf("err %v has code %v, want not-found", err, CodeOf(err))
	}
	if len(h.n.Subscriptions()) != 0 {
		t.Fatalf("a failed resume left a subscription: %+v", h.n.Subscriptions())
	}
}

func TestPausedSubscriptionExpiresAfterPausedTTL(t *testing.T) {
	h, id := pausedAfter(t, nil, func(c *Config) { c.PausedTTL = time.Minute })
	pausedAt := h.now.Mono
	h.at(pausedAt, time.Minute-time.Millisecond)
	if st := h.n.Status(); st.Paused != 1 {
		t.Fatalf("Paused=%d a millisecond before the TTL, want 1", st.Paused)
	}
	h.at(pausedAt, time.Minute)
	if st := h.n.Status(); st.Paused != 0 || st.Subscriptions != 0 || st.Patterns != 0 || h.n.Hash() != 0 {
		t.Fatalf("after PausedTTL: Paused=%d Subscriptions=%d Patterns=%d hash=%016x, want all 0",
			st.Paused, st.Subscriptions, st.Patterns, h.n.Hash())
	}
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverReplay, Credit: 10})
	if err := only[*EndStream](t, effs).Err; CodeOf(err) != NotFound {
		t.Fatalf("resume after expiry: err %v, want not-found", err)
	}
}

func TestResumeByTopicsStartsANewSubscriptionFromLastSeq(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.publish("a/y", "y1") // matches the pattern, but the client never asked for it
	for i := 1; i <= 5; i++ {
		h.publish("a/x", fmt.Sprint("p", i))
	}
	effs := h.step(&Resumed{Stream: 1, Patterns: []string{"a/+"}, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverReplay, Credit: 10})
	effs = append(effs, h.publish("a/x", "p6")...)
	effs = append(effs, h.publish("a/y", "y2")...)
	checkLog(t, effs, 1,
		"info replay", "replay a/x#3 p3", "replay a/x#4 p4", "replay a/x#5 p5",
		"replay-complete a/x count=3 latest=5", "msg a/x#6 p6", "msg a/y#2 y2")
	subs := h.n.Subscriptions()
	if len(subs) != 1 || subs[0].Paused || subs[0].Stream != 1 || !slices.Equal(subs[0].Patterns, []string{"a/+"}) {
		t.Fatalf("subscriptions %+v, want one active on stream 1 with [a/+]", subs)
	}
	if info := outsOf(effs, 1)[0].Info; info.SubID != subs[0].ID {
		t.Fatalf("info names subscription %q, the node holds %q", info.SubID, subs[0].ID)
	}
}

func TestResumeOfAttachedSubscriptionTakesItOver(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	id := h.subscribe(1, 100, "a/x")
	h.publish("a/x", "p1")
	h.publish("a/x", "p2")
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 1}, Mode: RecoverReplay, Credit: 100})
	effs = append(effs, h.publish("a/x", "p3")...)
	checkLog(t, effs, 1, "end")
	if err := only[*EndStream](t, effs).Err; err != nil {
		t.Fatalf("the old stream ended with %v, want no error", err)
	}
	checkLog(t, effs, 2, "info replay", "replay a/x#2 p2", "replay-complete a/x count=1 latest=2", "msg a/x#3 p3")
	if subs := h.n.Subscriptions(); len(subs) != 1 || subs[0].ID != id || subs[0].Stream != 2 {
		t.Fatalf("subscriptions %+v, want %s alone, on stream 2", subs, id)
	}
	// The old stream's handle is free: credit for it changes nothing.
	if effs := h.grant(1, 5); len(effs) != 0 {
		t.Fatalf("credit on the old stream gave:\n%s", describe(effs))
	}
}

// A topic whose missed messages are all gone still gets its
// replay_complete, naming its latest number, so the client can tell on
// which topic the resume's missed messages were.
func TestResumeSendsReplayCompleteForATopicWithNothingLeftToReplay(t *testing.T) {
	h, id := pausedAfter(t, nil)
	for range 3 {
		h.publish("a/x", "short", withTTL(1))
	}
	h.advance(10 * time.Millisecond) // all three expired
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverReplay, Credit: 100})
	var done []ReplayDone
	for _, o := range outsOf(effs, 2) {
		if o.Kind == OutReplayComplete {
			done = append(done, *o.Done)
		}
	}
	if len(done) != 1 || done[0] != (ReplayDone{Topic: "a/x", Count: 0, Latest: 5}) {
		t.Fatalf("replay_complete %+v, want one for a/x with count 0 and latest 5", done)
	}
}

// A client whose last sequence is past the topic's head knew another
// numbering (this daemon restarted): every message held is new to it, so
// a replay sends them all, whether it resumes by id or by topics (a
// subscription made now), and reports a gap of unknown size.
func TestResumePastTheHeadReplaysEverythingHeld(t *testing.T) {
	for _, byTopics := range []bool{false, true} {
		h, id := pausedAfter(t, during("a/x", 2))
		ev := &Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 100}, Mode: RecoverReplay, Credit: 100}
		if byTopics {
			ev.SubID, ev.Patterns = "", []string{"a/x"}
		}
		effs := h.step(ev)
		var replayed []uint64
		for _, o := range outsOf(effs, 2) {
			if o.Kind == OutReplay {
				replayed = append(replayed, o.Msg.Seq)
			}
		}
		info := outsOf(effs, 2)[0].Info
		if len(replayed) == 0 || replayed[0] != 1 || !info.GapDetected || info.Missed != -1 {
			t.Errorf("by topics %v: replayed %v, info %+v; want every held message from 1, and a gap of unknown size\n%s", byTopics, replayed, info, describe(effs))
		}
	}
}
