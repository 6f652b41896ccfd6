package state

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Test helpers shared by the package's tests: a node on a hand-driven
// clock, and ways to pick effects out of what it returns.

// harness drives one node on a virtual clock.
type harness struct {
	t    testing.TB
	n    *Node
	now  Instant
	effs []Effect // of the last Step or Tick, copied
	all  []Effect // every effect since the harness started, copied
	req  uint64

	subID string // for tests that keep one subscription in view

	// lend: runBatch lends its frame (PublishedBatch.Frame) instead of
	// scribbling over it after the Step; released counts the frames given
	// back, and recycled those the node said could be used again.
	lend               bool
	framePad           int // added to a lent frame's FrameBytes
	released, recycled int
}

// testFrame is a frame runBatch lends the node.
type testFrame struct {
	b        []byte
	released bool
}

func testConfig(id string) Config {
	return DefaultConfig(id, "test", rand.New(rand.NewPCG(1, uint64(len(id)))))
}

func newHarness(t testing.TB, id string, mods ...func(*Config)) *harness {
	t.Helper()
	cfg := testConfig(id)
	for _, m := range mods {
		m(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &harness{t: t, n: n, now: Instant{Mono: time.Second, WallMs: 1_700_000_000_000}}
}

// keep copies effects out of the node's reusable buffers, after checking
// the node's invariants: every step of every state test checks them.
func (h *harness) keep(effs []Effect) []Effect {
	if err := h.n.CheckInvariants(); err != nil {
		h.t.Fatalf("invariants broken after a step:\n%v", err)
	}
	out := make([]Effect, len(effs))
	for i, e := range effs {
		switch e := e.(type) {
		case *Deliver:
			c := *e
			out[i] = &c
		case *Push:
			c := *e
			out[i] = &c
		case *CompletePublish:
			c := *e
			out[i] = &c
		case *AnswerPush:
			c := *e
			out[i] = &c
		case *ReleaseFrame:
			h.releaseFrame(e)
			c := *e
			out[i] = &c
		default:
			out[i] = e
		}
	}
	h.effs = out
	h.all = append(h.all, out...)
	return out
}

func (h *harness) step(ev Event) []Effect { return h.keep(h.n.Step(h.now, ev)) }

// releaseFrame takes back a frame runBatch lent: once, and scribbled over
// if it may be used again, as a shell's pool would.
func (h *harness) releaseFrame(e *ReleaseFrame) {
	f, ok := e.Frame.(*testFrame)
	if !ok || f.released {
		h.t.Fatalf("a frame given back that was not lent, or twice: %T", e.Frame)
	}
	f.released = true
	h.released++
	if e.Recycle {
		h.recycled++
		for i := range f.b {
			f.b[i] = '!'
		}
	}
}

// advance moves the clock by d, ticking at every deadline on the way.
func (h *harness) advance(d time.Duration) []Effect {
	end := h.now.Mono + d
	var out []Effect
	for {
		next := h.n.NextDeadline()
		if next > end {
			break
		}
		h.setMono(next)
		out = append(out, h.keep(h.n.Tick(h.now))...)
	}
	h.setMono(end)
	h.effs = out
	return out
}

func (h *harness) setMono(m time.Duration) {
	if m < h.now.Mono {
		m = h.now.Mono
	}
	h.now.WallMs += (m - h.now.Mono).Milliseconds()
	h.now.Mono = m
}

func (h *harness) start() []Effect { return h.keep(h.n.Tick(h.now)) }

func (h *harness) beacon(id, addr string, hash uint64) []Effect {
	return h.step(&BeaconReceived{Beacon: Beacon{Instance: id, Cluster: "test", Addr: addr, Hash: hash, Version: 1, WallMs: h.now.WallMs}})
}

// sync introduces a peer and completes its fetch with the given patterns.
func (h *harness) sync(id string, patterns ...string) {
	h.t.Helper()
	hash := TopicStateHash(patterns)
	effs := h.beacon(id, id+":5671", hash)
	f := only[*FetchState](h.t, effs)
	h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: id, Patterns: patterns, Hash: hash}})
}

func (h *harness) publish(topic, payload string, mods ...func(*Published)) []Effect {
	h.req++
	p := &Published{Req: h.req, Topic: topic, Payload: []byte(payload)}
	for _, m := range mods {
		m(p)
	}
	return h.step(p)
}

// subscribe opens a subscription on stream and returns its id.
func (h *harness) subscribe(stream uint64, credit int, patterns ...string) string {
	h.t.Helper()
	effs := h.step(&Subscribed{Stream: stream, Patterns: patterns, Policy: PolicyDefault, Credit: credit})
	for _, e := range effs {
		if d, ok := e.(*Deliver); ok && d.Stream == stream && d.Out.Kind == OutInfo {
			return d.Out.Info.SubID
		}
		if e, ok := e.(*EndStream); ok {
			h.t.Fatalf("subscribe %v: %v", patterns, e.Err)
		}
	}
	if credit == 0 {
		for id, s := range h.n.subs {
			if s.stream == stream {
				return id
			}
		}
	}
	h.t.Fatalf("subscribe %v: no info event in %v", patterns, effs)
	return ""
}

// of returns the effects of type T.
func of[T Effect](effs []Effect) []T {
	var out []T
	for _, e := range effs {
		if x, ok := e.(T); ok {
			out = append(out, x)
		}
	}
	return out
}

// only returns the one effect of type T, failing otherwise.
func only[T Effect](t testing.TB, effs []Effect) T {
	t.Helper()
	xs := of[T](effs)
	if len(xs) != 1 {
		var zero T
		t.Fatalf("want one %T, got %d in:\n%s", zero, len(xs), describe(effs))
	}
	return xs[0]
}

// delivered lists what stream got, as "kind topic:payload" lines.
func delivered(effs []Effect, stream uint64) []string {
	var out []string
	for _, d := range of[*Deliver](effs) {
		if d.Stream != stream {
			continue
		}
		switch d.Out.Kind {
		case OutMessage, OutRetained, OutReplay:
			out = append(out, fmt.Sprintf("%s %s:%s", d.Out.Kind, d.Out.Msg.Topic, d.Out.Msg.Payload))
		default:
			out = append(out, d.Out.Kind.String())
		}
	}
	return out
}

// payloads lists the payloads of live messages stream got.
func payloads(effs []Effect, stream uint64) []string {
	var out []string
	for _, d := range of[*Deliver](effs) {
		if d.Stream == stream && d.Out.Kind == OutMessage {
			out = append(out, string(d.Out.Msg.Payload))
		}
	}
	return out
}

func describe(effs []Effect) string {
	var b strings.Builder
	for _, e := range effs {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}

type testError string

func (e testError) Error() string { return string(e) }

const errTest = testError("injected failure")
