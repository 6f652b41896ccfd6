package state

import "testing"

func TestSmokeLocalPublishReachesSubscriber(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 10, "a/+")
	effs := h.publish("a/b", "hello")
	if got := payloads(effs, 1); len(got) != 1 || got[0] != "hello" {
		t.Fatalf("got %v\n%s", got, describe(effs))
	}
	done := only[*CompletePublish](t, effs)
	if done.Err != nil || done.Result.Subscribers != 1 {
		t.Fatalf("publish result %+v", done)
	}
}

func TestSmokeRemoteRouting(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a/#")
	effs := h.publish("a/b/c", "x")
	p := only[*Push](t, effs)
	if p.Peer != "n2" || string(p.Msg.Payload) != "x" {
		t.Fatalf("push %v", p)
	}
	if r := only[*CompletePublish](t, effs).Result; r.Subscribers != 1 {
		t.Fatalf("result %+v", r)
	}
}
