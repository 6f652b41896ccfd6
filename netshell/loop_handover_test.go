package netshell

import (
	"context"
	"testing"

	"github.com/nexusd/nexusd/state"
)

// seenAtAnswer is a publishReplier that notes, when the loop hands it
// answers, whether the stream st already holds a delivery and whether the
// peer's link already got a push.
type seenAtAnswer struct {
	st  *subStream
	net *fakeNet

	answered, sawDelivery, sawPush bool
}

func (a *seenAtAnswer) look() {
	a.answered = true
	a.st.box.mu.Lock()
	a.sawDelivery = a.sawDelivery || len(a.st.box.items) > 0
	a.st.box.mu.Unlock()
	a.net.mu.Lock()
	a.sawPush = a.sawPush || len(a.net.pushes) > 0
	a.net.mu.Unlock()
}

func (a *seenAtAnswer) answerPublishes([]state.CompletePublish) { a.look() }
func (a *seenAtAnswer) answerRun(uint64, int)                   { a.look() }
func (a *seenAtAnswer) answer(state.Effect)                     { a.look() }

// TestDeliveriesAreHandedOverLast: after a step the loop hands over the
// publisher's answers, then the pushes, then the deliveries. The goroutine
// woken last is the one Go's scheduler runs next on the loop's core, so
// the message reaches its subscriber's stream first and the answer goes
// out beside it, on the other core.
func TestDeliveriesAreHandedOverLast(t *testing.T) {
	for _, batch := range []bool{false, true} {
		h := newLoopHarness(t)
		h.syncedPeer("peer-1", "a/#")
		st := newSubStream(41, 64, 1)
		if err := h.l.post(context.Background(), input{ev: &state.Subscribed{Stream: 41, Patterns: []string{"a/+"}, Credit: 64,
			Policy: state.PolicyDefault}, stream: st}); err != nil {
			t.Fatal(err)
		}
		h.barrier()
		st.box.take(nil) // the subscription's info
		a := &seenAtAnswer{st: st, net: h.net}
		req := h.l.newIDs(2)
		var ev state.Event = &state.Published{Req: req, Topic: "a/b", Payload: []byte("one")}
		if batch {
			ev = &state.PublishedBatch{ByNumber: true, Pubs: []state.Published{
				{Req: req, Topic: "a/b", Payload: []byte("one")}, {Req: req + 1, Topic: "a/b", Payload: []byte("two")}}}
		}
		h.post(ev, a)
		h.barrier()
		if !a.answered || a.sawDelivery || a.sawPush {
			t.Errorf("batch %v: answered %v; at the answer the stream held a delivery: %v, the link had a push: %v; want the answer first",
				batch, a.answered, a.sawDelivery, a.sawPush)
		}
		if items := st.box.take(nil); len(items) == 0 {
			t.Errorf("batch %v: nothing delivered", batch)
		}
		h.net.mu.Lock()
		if len(h.net.pushes) == 0 {
			t.Errorf("batch %v: nothing pushed", batch)
		}
		h.net.mu.Unlock()
	}
}
