package state

import (
	"fmt"
	"slices"
	"testing"
)

// When a peer's state is fetched, we push it each retained value we hold
// that its state lacks or holds an older one of, and nothing else: not a
// value it holds newer, and not a value it published itself.
func TestAFetchedPeerIsSentOnlyTheRetainedValuesItLacksOrHoldsOlder(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	ts := h.now.WallMs - 1000
	ret := func(id, topic, payload, source string, ts int64) Envelope {
		return Envelope{ID: id, Topic: topic, Payload: []byte(payload), Source: source, Retain: true, TimestampMs: ts, SourceSeq: 1}
	}
	h.step(&PushReceived{Req: 1, Envs: []Envelope{ret("own", "cfg/own", "from-n2", "n2", ts)}})
	h.step(&PushReceived{Req: 2, Envs: []Envelope{ret("new", "cfg/newer-here", "ours", "n3", ts)}})
	h.step(&PushReceived{Req: 3, Envs: []Envelope{ret("old", "cfg/older-here", "ours", "n4", ts)}})
	h.step(&PushReceived{Req: 4, Envs: []Envelope{ret("miss", "cfg/missing", "ours", "n5", ts)}})

	f := only[*FetchState](t, h.beacon("n2", "n2:5671", 0))
	effs := h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: "n2", Retained: []Envelope{
		ret("new0", "cfg/newer-here", "theirs", "n3", ts-500),
		ret("old1", "cfg/older-here", "theirs", "n4", ts+500),
	}}})
	var got []string
	for _, p := range of[*Push](effs) {
		got = append(got, fmt.Sprintf("%s:%s", p.Msg.Topic, p.Msg.Payload))
	}
	slices.Sort(got)
	if fmt.Sprint(got) != "[cfg/missing:ours cfg/newer-here:ours]" {
		t.Fatalf("pushed to the fetched peer %v, want [cfg/missing:ours cfg/newer-here:ours]", got)
	}
	if got := h.n.Status().Counters.RetainedSynced; got != 2 {
		t.Fatalf("retained_synced=%d, want 2", got)
	}
}
