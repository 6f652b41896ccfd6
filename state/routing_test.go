package state

import (
	"fmt"
	"slices"
	"testing"
)

func TestLocalPublishReachesEveryMatchingSubscriptionOnce(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 100, "a/b")
	h.subscribe(2, 100, "a/+", "a/#") // two patterns match: still once
	h.subscribe(3, 100, "#")
	h.subscribe(4, 100, "a/c")
	effs := h.publish("a/b", "m")
	for stream, want := range map[uint64]int{1: 1, 2: 1, 3: 1, 4: 0} {
		if got := len(payloads(effs, stream)); got != want {
			t.Errorf("stream %d got %d messages, want %d", stream, got, want)
		}
	}
	if r := only[*CompletePublish](t, effs).Result; r.Subscribers != 3 || r.MessageID == "" {
		t.Fatalf("result %+v", r)
	}
}

func TestPublishPushesOncePerMatchingSyncedPeer(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a/+", "a/#")
	h.sync("n3", "b")
	h.sync("n4", "#")
	h.beacon("n5", "n5:5671", TopicStateHash([]string{"a/b"})) // never fetched: not routed
	h.subscribe(1, 10, "a/b")
	effs := h.publish("a/b", "m")
	var peers []string
	for _, p := range of[*Push](effs) {
		peers = append(peers, p.Peer)
		if p.Msg.SourceSeq != 1 || p.Msg.Source != "n1" {
			t.Errorf("push %v: want source n1, source_sequence 1", p)
		}
	}
	slices.Sort(peers)
	if fmt.Sprint(peers) != "[n2 n4]" {
		t.Fatalf("pushed to %v, want [n2 n4]", peers)
	}
	if r := only[*CompletePublish](t, effs).Result; r.Subscribers != 3 { // 1 local + 2 peers
		t.Fatalf("subscriber_count %d, want 3", r.Subscribers)
	}
}

func TestMessageFromPeerIsDeliveredLocallyOnlyOneHop(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	h.sync("n3", "a")
	h.subscribe(1, 10, "a")
	effs := h.step(&PushReceived{Req: 1, Envs: []Envelope{{ID: "m1", Topic: "a", Payload: []byte("x"), Source: "n2", SourceSeq: 1}}})
	if len(of[*Push](effs)) != 0 {
		t.Fatal("a message from a peer was forwarded again")
	}
	if got := payloads(effs, 1); len(got) != 1 {
		t.Fatalf("local delivery %v", got)
	}
	if a := only[*AnswerPush](t, effs); a.Req != 1 || a.Errs != nil {
		t.Fatalf("ack %+v", a)
	}
}

func TestDuplicateMessageIDIsDeliveredOnce(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2")
	h.subscribe(1, 10, "a")
	env := Envelope{ID: "m1", Topic: "a", Payload: []byte("x"), Source: "n2"} // unnumbered: only the id dedups
	first := h.step(&PushReceived{Req: 1, Envs: []Envelope{env}})
	again := h.step(&PushReceived{Req: 2, Envs: []Envelope{env, env}})
	if len(payloads(first, 1)) != 1 || len(payloads(again, 1)) != 0 {
		t.Fatalf("first %v, again %v", payloads(first, 1), payloads(again, 1))
	}
	if only[*AnswerPush](t, again).Errs != nil {
		t.Fatal("a duplicate is acknowledged as taken, not refused")
	}
	if d := h.n.Status().Counters.Duplicates; d != 2 {
		t.Fatalf("duplicates counted %d, want 2", d)
	}
}

func TestPushForTopicNobodyWantsIsAcceptedAndDropped(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	effs := h.step(&PushReceived{Req: 1, Envs: []Envelope{{ID: "m1", Topic: "z", Source: "n2", SourceSeq: 1}}})
	if only[*AnswerPush](t, effs).Errs != nil || len(of[*Deliver](effs)) != 0 {
		t.Fatalf("effects %v", describe(effs))
	}
	if st := h.n.Status(); st.BufferedMsgs != 0 || st.Topics != 0 {
		t.Fatalf("an unwanted message was stored: %+v", st)
	}
}

func TestPublishWithoutSubscribersStillSucceeds(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	r := only[*CompletePublish](t, h.publish("a", "x"))
	if r.Err != nil || r.Result.Subscribers != 0 || r.Result.MessageID == "" {
		t.Fatalf("%+v", r)
	}
}

func TestMessageIDsAreDistinctUUIDs(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	seen := map[string]bool{}
	for i := range 1000 {
		id := only[*CompletePublish](t, h.publish("a", fmt.Sprint(i))).Result.MessageID
		if len(id) != 36 || id[14] != '4' || seen[id] {
			t.Fatalf("id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}
