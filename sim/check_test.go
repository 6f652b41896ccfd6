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

// deliveredWorld has n2 subscribed to t and three messages from n1
// delivered to it.
func deliveredWorld(t *testing.T) *World {
	t.Helper()
	w := stableWorld(t, 2)
	if err := w.Subscribe(2, "s", []string{"t"}, SubOptions{}); err != nil {
		t.Fatal(err)
	}
	w.Stabilize(10 * time.Second)
	for range 3 {
		w.Publish(1, "t", []byte("x"), PublishOptions{}, nil)
	}
	w.Stabilize(10 * time.Second)
	if v := w.CheckNoLoss(); len(v) != 0 {
		t.Fatalf("loss before any fault: %v", v)
	}
	return w
}

// A message owed to a subscriber that never reached its node and that the
// node never declared lost is a silent loss.
func TestSilentLossCheckerCatchesAnOwedMessageNeverSent(t *testing.T) {
	w := deliveredWorld(t)
	n1 := w.nodes[0]
	// As if n1 had published #4 and routed it nowhere.
	k := msgKey{n1.id, "t", 4}
	w.oracle.msgs[k] = &published{at: w.now, from: n1, label: n1.name, owed: []*client{w.clients["s"]}}
	w.clients["s"].owedMsgs = append(w.clients["s"].owedMsgs, k)
	v := w.CheckSilentLoss()
	if len(v) != 1 || !strings.Contains(v[0], "t#4 from n1 (never arrived, never declared lost") {
		t.Fatalf("silent loss %v, want t#4 named", v)
	}
	if lc := w.Losses(); lc.Silent != 1 {
		t.Fatalf("counted %+v, want one silent loss", lc)
	}
}

// Numbers a node passed over as never sent to it, when they were owed to a
// subscriber there, are a silent loss too.
func TestSilentLossCheckerCatchesAnOwedMessagePassedOver(t *testing.T) {
	w := deliveredWorld(t)
	n1, n2 := w.nodes[0], w.nodes[1]
	k := msgKey{n1.id, "t", 2}
	delete(w.clients["s"].got, k) // as if #2 had never been delivered...
	// ...because n2 passed over it as not meant for it.
	w.noteGap(n2, &state.ReportGap{Source: n1.id, Topic: "t", From: 2, To: 2, Why: "not_sent"})
	if v := w.CheckSilentLoss(); len(v) != 1 || !strings.Contains(v[0], "t#2 from n1 (passed over: not_sent)") {
		t.Fatalf("silent loss %v, want t#2 passed over", v)
	}
}

// A node that declares lost a message that had reached it lost it
// needlessly; so does one whose publisher, a known peer, still held it.
func TestNeedlessLossCheckerCatchesALossThatCouldHaveBeenAvoided(t *testing.T) {
	w := deliveredWorld(t)
	n1, n2 := w.nodes[0], w.nodes[1]
	w.noteGap(n2, &state.ReportGap{Source: n1.id, Topic: "t", From: 2, To: 3, Lost: true, Why: "planted"})
	v := w.Violations("needless-loss")
	if len(v) != 1 || !strings.Contains(v[0], "declared 2 message(s) from n1 on t lost (planted) that had reached it: #2 #3") {
		t.Fatalf("needless losses %v, want #2 and #3 named", v)
	}
	// n1 publishes #4 into its ring, but it never reaches n2 (n2 is paused).
	w.Pause(2, 100*time.Millisecond)
	w.Publish(1, "t", []byte("x"), PublishOptions{}, nil)
	w.noteGap(n2, &state.ReportGap{Source: n1.id, Topic: "t", From: 4, To: 4, Lost: true, Why: "planted"})
	v = w.Violations("needless-loss")
	if len(v) != 2 || !strings.Contains(v[1], "while n1, a peer it knew, still held them: #4") {
		t.Fatalf("needless losses %v, want #4 held by n1", v)
	}
	// And a message declared lost that arrives later is needless as well.
	w.Stabilize(10 * time.Second)
	if v = w.Violations("needless-loss"); len(v) != 3 || !strings.Contains(v[2], "declared 1 message(s) from n1 on t lost (planted), then they arrived: #4") {
		t.Fatalf("needless losses %v, want the late arrival of #4", v)
	}
	if lc := w.Losses(); lc.Needless != 4 { // #2, #3, #4 held, #4 arrived
		t.Fatalf("counted %+v, want three needless losses", lc)
	}
}

// A gap declared beyond the last number the publisher ever issued is
// bigger than what went missing: a phantom loss.
func TestPhantomLossCheckerCatchesAGapBiggerThanWhatWasMissing(t *testing.T) {
	w := deliveredWorld(t)
	n1, n2 := w.nodes[0], w.nodes[1]
	w.noteGap(n2, &state.ReportGap{Source: n1.id, Topic: "t", From: 4, To: 1 << 40, Lost: true, Why: "planted"})
	if v := w.Violations("phantom-loss"); len(v) != 1 || !strings.Contains(v[0], "it only ever issued up to #3") {
		t.Fatalf("phantom losses %v", v)
	}
}

// The loss checker refuses to judge while messages are still on their way.
func TestSilentLossCheckerWaitsForASettledWorld(t *testing.T) {
	w := deliveredWorld(t)
	w.Publish(1, "t", []byte("x"), PublishOptions{}, nil)
	if v := w.CheckSilentLoss(); len(v) != 1 || !strings.Contains(v[0], "cannot judge loss while work is under way") {
		t.Fatalf("judged an unsettled world: %v", v)
	}
}

// A message from a node that is no member reaching a member's subscriber
// is an outsider violation.
func TestOutsiderCheckerCatchesAMessageAcrossKeys(t *testing.T) {
	w, err := New(Options{Nodes: 2, Seed: 5, Net: DefaultNet(), Keys: func(i int) []string {
		return [][]string{{"k"}, nil}[i]
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	if err := w.Subscribe(1, "s", []string{"t"}, SubOptions{}); err != nil {
		t.Fatal(err)
	}
	w.Stabilize(10 * time.Second)
	from := &state.Message{Envelope: state.Envelope{ID: "m", Topic: "t", Source: w.nodes[1].id, SourceSeq: 1}, Seq: 1}
	w.clients["s"].receive(w, state.Out{Kind: state.OutMessage, Msg: from}) // as if it crossed
	if v := w.Violations("outsider"); len(v) != 1 || !strings.Contains(v[0], "from n2, which is no member") {
		t.Fatalf("outsider violations %v, want one naming n2", v)
	}
}
