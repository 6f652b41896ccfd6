package state

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// One PushesCompleted does what a PushCompleted for each of its calls in
// turn does: the same pushes, in the same order, the same links, memory
// and counters after. Two nodes built alike push to two peers through a
// window of 3; round after round, one completes what is in flight call by
// call and the other in one event, in an order mixing the peers and
// carrying calls no push has (an unknown number, a call of no push at all,
// one completed already).
func TestPushesCompletedIsEachInTurn(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			build := func() *harness {
				h := newHarness(t, "n1", func(c *Config) { c.PushWindow = 3 })
				h.start()
				h.sync("n2", "a")
				h.sync("n3", "a")
				return h
			}
			each, once := build(), build()
			var inflight []uint64
			for i := range 12 {
				a := of[*Push](each.publish("a", fmt.Sprint("m", i)))
				b := of[*Push](once.publish("a", fmt.Sprint("m", i)))
				if describe(toEffects(a)) != describe(toEffects(b)) {
					t.Fatalf("the two nodes differ before any completion")
				}
				for _, p := range a {
					inflight = append(inflight, p.Call)
				}
			}
			var retired []uint64
			for round := 0; len(inflight) > 0; round++ {
				rng.Shuffle(len(inflight), func(i, j int) { inflight[i], inflight[j] = inflight[j], inflight[i] })
				k := 1 + rng.IntN(len(inflight))
				calls := append([]uint64(nil), inflight[:k]...)
				inflight = inflight[k:]
				retired = append(retired, calls...)
				switch rng.IntN(4) {
				case 0:
					calls = append(calls, 5) // no push's call
				case 1:
					calls = append(calls, calls[0]+1000) // no push has that number
				case 2:
					calls = append(calls, retired[rng.IntN(len(retired))]) // done already, or about to be
				}
				var got []Effect
				for _, c := range calls {
					got = append(got, each.step(&PushCompleted{Call: c})...)
				}
				want := once.step(&PushesCompleted{Calls: calls})
				if describe(got) != describe(want) {
					t.Fatalf("round %d, calls %v:\ncall by call:\n%sat once:\n%s", round, calls, describe(got), describe(want))
				}
				for _, p := range of[*Push](got) {
					inflight = append(inflight, p.Call)
				}
				if a, b := fmt.Sprint(each.n.Status()), fmt.Sprint(once.n.Status()); a != b {
					t.Fatalf("round %d: status call by call\n%s\nat once\n%s", round, a, b)
				}
				if a, b := fmt.Sprint(each.n.Peers()), fmt.Sprint(once.n.Peers()); a != b {
					t.Fatalf("round %d: peers call by call %s, at once %s", round, a, b)
				}
			}
			for _, p := range each.n.Peers() {
				if p.Link.InFlight != 0 || p.Link.Backlog != 0 {
					t.Fatalf("peer %s still has %d in flight and %d waiting", p.ID, p.Link.InFlight, p.Link.Backlog)
				}
			}
		})
	}
}

func toEffects(ps []*Push) []Effect {
	out := make([]Effect, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}
