package state

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"pgregory.net/rapid"
)

// Helpers for the rapid state-machine tests (model_routing_test.go,
// model_delivery_test.go): a node on a virtual clock that logs every event
// and effect, so a failing case prints the whole run it shrank to.

// modelNode drives one node for a rapid test. Effects are handed to the
// test's handler before the next Step or Tick, as the node requires.
type modelNode struct {
	t      *rapid.T
	n      *Node
	now    Instant
	handle func([]Effect) // checks and absorbs one batch of effects
}

func newModelNode(t *rapid.T, id string, seed uint64, mods ...func(*Config)) *modelNode {
	cfg := DefaultConfig(id, "test", rand.New(rand.NewPCG(seed, 0x6d6f64656c)))
	for _, m := range mods {
		m(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &modelNode{t: t, n: n, now: Instant{Mono: time.Second, WallMs: 1_700_000_000_000}}
}

// step feeds one event and hands its effects to the handler.
func (d *modelNode) step(ev Event) {
	d.t.Logf("%s %s", d.now, ev)
	effs := d.n.Step(d.now, ev)
	d.logEffects(effs)
	d.checkInvariants()
	d.handle(effs)
}

func (d *modelNode) checkInvariants() {
	if err := d.n.CheckInvariants(); err != nil {
		d.t.Fatalf("invariants broken:\n%v", err)
	}
}

// start gives the node its first Tick, which sends its first beacon.
func (d *modelNode) start() {
	d.t.Logf("%s start", d.now)
	effs := d.n.Tick(d.now)
	d.logEffects(effs)
	d.checkInvariants()
	d.handle(effs)
}

// advance moves both clocks by dur, ticking at every deadline on the way.
func (d *modelNode) advance(dur time.Duration) {
	end := d.now.Mono + dur
	for {
		next := d.n.NextDeadline()
		if next > end {
			break
		}
		d.setMono(next)
		effs := d.n.Tick(d.now)
		if len(effs) > 0 {
			d.t.Logf("%s tick", d.now)
			d.logEffects(effs)
		}
		d.checkInvariants()
		d.handle(effs)
	}
	d.setMono(end)
}

func (d *modelNode) setMono(m time.Duration) {
	if m < d.now.Mono {
		m = d.now.Mono
	}
	d.now.WallMs += (m - d.now.Mono).Milliseconds()
	d.now.Mono = m
}

func (d *modelNode) logEffects(effs []Effect) {
	for _, e := range effs {
		d.t.Logf("    -> %s", e)
	}
}

// modelAction is one kind of step of a state-machine test; weight is how
// often it is drawn relative to the others. An action that does not apply
// in the current state (no subscription to pause...) calls t.Skip, and
// another is drawn.
type modelAction struct {
	name   string
	weight int
	run    func(*rapid.T)
}

// modelRun runs rounds of rapid's Repeat (about 30 actions each) over the
// weighted actions, with the invariant check after every action. Repeat
// lets the shrinker delete whole actions, and every draw is labelled, so a
// failure prints a short sequence with what each step did.
func modelRun(t *rapid.T, rounds int, actions []modelAction, check func(*rapid.T)) {
	m := map[string]func(*rapid.T){"": check}
	for _, a := range actions {
		for i := 0; i < a.weight; i++ {
			name := a.name
			if i > 0 {
				name = fmt.Sprintf("%s#%d", a.name, i+1)
			}
			m[name] = a.run
		}
	}
	for i := 0; i < rounds; i++ {
		t.Repeat(m)
	}
}

// Small alphabets, so random patterns and topics collide often.

// modelPatterns is every pattern of one to three levels over a, b, + and
// (last level only) #.
var modelPatterns = func() []string {
	var out []string
	var gen func(prefix []string, depth int)
	gen = func(prefix []string, depth int) {
		for _, l := range []string{"a", "b", "+", "#"} {
			p := append(slices.Clone(prefix), l)
			out = append(out, strings.Join(p, "/"))
			if l != "#" && depth < 3 {
				gen(p, depth+1)
			}
		}
	}
	gen(nil, 1)
	slices.Sort(out)
	return out
}()

// modelTopics is every concrete topic of one to three levels over a, b, c;
// c is matched by wildcards only.
var modelTopics = func() []string {
	var out []string
	var gen func(prefix string, depth int)
	gen = func(prefix string, depth int) {
		for _, l := range []string{"a", "b", "c"} {
			t := l
			if prefix != "" {
				t = prefix + "/" + l
			}
			out = append(out, t)
			if depth < 3 {
				gen(t, depth+1)
			}
		}
	}
	gen("", 1)
	slices.Sort(out)
	return out
}()

// modelDrawPatterns draws one to most patterns from the alphabet
// (duplicates possible, as a client may send them).
func modelDrawPatterns(t *rapid.T, label string, most int) []string {
	return rapid.SliceOfN(rapid.SampledFrom(modelPatterns), 1, most).Draw(t, label)
}

// modelMatchAny is the reference for "does any of these patterns match": Match,
// one pattern at a time.
func modelMatchAny(patterns []string, topic string) bool {
	for _, p := range patterns {
		if Match(p, topic) {
			return true
		}
	}
	return false
}

// modelSet returns the distinct values of xs, sorted (never nil).
func modelSet(xs []string) []string {
	out := append([]string{}, xs...)
	slices.Sort(out)
	return slices.Compact(out)
}

// modelKeys lists a map's keys in order, for deterministic draws.
func modelKeys[K interface{ ~uint64 | ~string }, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// modelDrawKey picks one key of a non-empty map.
func modelDrawKey[K interface{ ~uint64 | ~string }, V any](t *rapid.T, m map[K]V, label string) K {
	return rapid.SampledFrom(modelKeys(m)).Draw(t, label)
}

// modelOuts prints stream events one a line, for failure messages.
func modelOuts(outs []Out) string {
	var b strings.Builder
	for _, o := range outs {
		fmt.Fprintf(&b, "  %s\n", o)
	}
	return b.String()
}
