package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/state"
)

// The checkers must catch what they claim to. Each test below breaks one
// property on purpose, from outside the protocol, and expects its checker
// to say so.

func stableWorld(t *testing.T, nodes int) *World {
	t.Helper()
	w, err := New(Options{Nodes: nodes, Seed: 5, Net: DefaultNet()})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	if _, ok := w.Stabilize(30 * time.Second); !ok {
		t.Fatal("did not stabilize")
	}
	return w
}

// A message handed to a subscriber twice is an order violation, per
// source and topic and per topic on the node, and with ids recorded a
// duplicate too.
func TestOrderCheckerCatchesAMessageHandedOverTwice(t *testing.T) {
	w := stableWorld(t, 2)
	if err := w.Subscribe(2, "s", []string{"t"}, SubOptions{Record: true}); err != nil {
		t.Fatal(err)
	}
	w.Stabilize(10 * time.Second)
	for range 2 {
		w.Publish(1, "t", []byte("x"), PublishOptions{}, nil)
	}
	w.Stabilize(10 * time.Second)
	if v := w.Violations(""); len(v) != 0 {
		t.Fatalf("violations before any fault: %v", v)
	}
	c := w.clients["s"]
	src := w.nodes[0].id
	var id string
	for k := range c.seen { // either message will do
		id = k
	}
	again := &state.Message{Envelope: state.Envelope{ID: id, Topic: "t", Source: src,
		SourceSeq: c.lastSrc[srcTopic{src, "t"}]}, Seq: c.lastSeq["t"]}
	c.receive(w, state.Out{Kind: state.OutMessage, Msg: again}) // a message handed over again
	if v := w.Violations("order"); len(v) != 2 || !strings.Contains(v[0], "from n1 #2 after #2") || !strings.Contains(v[1], "seq 2 after seq 2") {
		t.Fatalf("order violations %v, want the source's and the node's numbering", v)
	}
	if v := w.Violations("duplicate"); len(v) != 1 {
		t.Fatalf("duplicate violations %v, want one (the subscription records ids)", v)
	}
}

// A subscriber that silently misses a message the node numbered for it
// breaks the accounting.
func TestAccountingCheckerCatchesASilentLoss(t *testing.T) {
	w := stableWorld(t, 2)
	w.Subscribe(2, "s", []string{"t"}, SubOptions{})
	w.Stabilize(10 * time.Second)
	for range 3 {
		w.Publish(1, "t", []byte("x"), PublishOptions{}, nil)
	}
	w.Stabilize(10 * time.Second)
	if v := w.CheckAccounting(); len(v) != 0 {
		t.Fatalf("accounting broken before any fault: %v", v)
	}
	w.clients["s"].live-- // as if one delivery never reached the application
	if v := w.CheckAccounting(); len(v) != 1 || !strings.Contains(v[0], "3 messages numbered for it, but 2 delivered") {
		t.Fatalf("accounting %v, want the missing message", v)
	}
}

// A node cut off long enough to be forgotten makes routing unconverged;
// after the heal it converges again.
func TestConvergenceCheckerSeesAnIsolatedNode(t *testing.T) {
	w := stableWorld(t, 3)
	if ok, why := w.Converged(); !ok {
		t.Fatalf("not converged at the start: %s", why)
	}
	w.Isolate(3)
	w.RunFor(7 * time.Second)
	if ok, why := w.Converged(); ok || !strings.Contains(why, "n3") {
		t.Fatalf("converged with n3 isolated (%q)", why)
	}
	w.Heal()
	w.Stabilize(30 * time.Second)
	if ok, why := w.Converged(); !ok {
		t.Fatalf("not converged after the heal: %s", why)
	}
}

// A retained value set on one side of a partition makes the nodes
// disagree until the partition heals.
func TestRetainedCheckerSeesDisagreement(t *testing.T) {
	w := stableWorld(t, 2)
	w.Partition([][]int{{1}, {2}})
	w.Publish(1, "cfg", []byte("v"), PublishOptions{Retain: true}, nil)
	w.RunFor(time.Second)
	if ok, why := w.RetainedAgree(); ok || !strings.Contains(why, `cfg="v"`) {
		t.Fatalf("retained values agree across a partition (%q)", why)
	}
	w.Heal()
	w.Stabilize(30 * time.Second)
	if ok, why := w.RetainedAgree(); !ok {
		t.Fatalf("retained values still differ after the heal: %s", why)
	}
}
