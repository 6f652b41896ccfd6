package sim

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The CI swarms: 200 nodes with faults on, default and heavy, with four
// queue groups. Each must keep every safety property through the faults
// (no message lost silently or needlessly, none twice or out of order,
// every node's invariants holding, every message published while a group
// member was known reaching exactly one member or accounted for) and
// converge and deliver after healing. make sim-long runs 1000 nodes over
// many seeds.
func TestSwarmWithFaultsHoldsSafetyAndConverges(t *testing.T) {
	runs := []struct {
		faults    string
		seed      uint64
		intruders int // nodes without the cluster key, in a keyed mesh
	}{{"default", 1, 0}, {"default", 2, 0}, {"heavy", 1, 0}, {"heavy", 2, 20}}
	nodes := 200
	if testing.Short() {
		runs, nodes = runs[:1], 50
	}
	for _, r := range runs {
		plan, err := ParseFaults(r.faults)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := Swarm(SwarmOptions{Nodes: nodes, Seed: r.seed, Duration: 20 * time.Second, Faults: plan, FaultsText: r.faults, Intruders: r.intruders, Groups: 4}, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s seed %d: %d events, %d published, %d delivered, %d dropped, %d gap msgs, %d repaired; converged %s after heal, %s (%d fetches) after a change; wall %s",
			r.faults, r.seed, sum.Events, sum.Published, sum.Delivered, sum.Dropped, sum.Gaps, sum.Repaired,
			sum.ConvergeAfterHeal, sum.ConvergeAfterChange, sum.FetchesPerChange, sum.WallTime.Round(time.Millisecond))
		if sum.Failure != "" {
			t.Fatalf("%s seed %d: %s\nreplay: %s", r.faults, r.seed, sum.Failure, sum.Replay)
		}
		if sum.SilentLosses+sum.NeedlessLosses+sum.PhantomLosses+sum.Duplicates+sum.OrderViolations != 0 {
			t.Fatalf("%s seed %d: %d silent, %d needless, %d phantom losses, %d duplicates, %d out of order\nreplay: %s",
				r.faults, r.seed, sum.SilentLosses, sum.NeedlessLosses, sum.PhantomLosses, sum.Duplicates, sum.OrderViolations, sum.Replay)
		}
	}
}

// Forty times the default rate under heavy faults, on a few topics: a
// node asks sources to vouch for retained values' stamps, and the
// oracle once counted the vouch's answer as the message arriving, so a
// later loss of that number read as needless (seed 4). The answer is
// only compared; the node never takes it in as the stream's message.
// Seed 5067: a reply to another daemon's inbox, the first on its topic,
// was claimed dropped unsent by the push after it while its own push was
// stalled on the way, and the requester declared it lost (link.go,
// droppedBelow).
func TestSwarmAtAHighRateHoldsSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("10-node swarms at 2000 publishes a second")
	}
	const faults = "heavy"
	plan, err := ParseFaults(faults)
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range []uint64{4, 5067} {
		sum, err := Swarm(SwarmOptions{Nodes: 10, Seed: seed, Duration: 10 * time.Second, Faults: plan, FaultsText: faults,
			Topics: 4, Rate: 2000, Groups: 2}, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		requireSafeAndLive(t, sum)
	}
}

// Beacons mostly lost and pushes reordered, at a high rate on one topic:
// a node asked a retained value's source to vouch for its stamp, the
// call failed in a partition, and the value was refused; its peers kept
// it, and nothing fetched it again, so the retained values never agreed
// after healing (this seed). A vouch without an answer is now asked again
// (state/stamp.go).
func TestSwarmWithMostBeaconsLostAgreesOnRetainedValues(t *testing.T) {
	if testing.Short() {
		t.Skip("a 6-node swarm at 5000 publishes a second")
	}
	const faults = "heavy,mcast-loss=0.7,reorder=0.5"
	plan, err := ParseFaults(faults)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Swarm(SwarmOptions{Nodes: 6, Seed: 9509, Duration: 10 * time.Second, Faults: plan, FaultsText: faults,
		Topics: 1, Rate: 5000, Groups: 1}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	requireSafeAndLive(t, sum)
}

// requireSafeAndLive fails t when a swarm broke a check: a failure (the
// liveness phase's included), a loss, a duplicate or a message out of
// order.
func requireSafeAndLive(t *testing.T, sum *Summary) {
	t.Helper()
	if sum.Failure != "" || sum.SilentLosses+sum.NeedlessLosses+sum.PhantomLosses+sum.Duplicates+sum.OrderViolations != 0 {
		t.Fatalf("seed %d: %s: %d silent, %d needless, %d phantom losses, %d duplicates, %d out of order\nreplay: %s",
			sum.Seed, sum.Failure, sum.SilentLosses, sum.NeedlessLosses, sum.PhantomLosses, sum.Duplicates, sum.OrderViolations, sum.Replay)
	}
}

// Nodes that stop gracefully, many of them, under heavy faults: a peer
// that removed a leaver never takes it back (the "resurrected" check),
// though beacons it sent just before leaving land after its notice. Seeds
// 7 and 8 of these did take one back before leavers were held out for
// PeerTimeout (state/leave.go).
func TestSwarmWithLeavesNeverTakesALeaverBack(t *testing.T) {
	const faults = "heavy,leaves=20"
	plan, err := ParseFaults(faults)
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= 8; seed++ {
		sum, err := Swarm(SwarmOptions{Nodes: 12, Seed: seed, Duration: 10 * time.Second, Faults: plan, FaultsText: faults}, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Failure != "" {
			t.Fatalf("seed %d: %s\nreplay: %s", seed, sum.Failure, sum.Replay)
		}
	}
}

func TestSameSeedSameTrace(t *testing.T) {
	plan, _ := ParseFaults("default")
	run := func() *Summary {
		sum, err := Swarm(SwarmOptions{Nodes: 20, Seed: 42, Duration: 10 * time.Second, Faults: plan}, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	a, b := run(), run()
	if a.TraceHash != b.TraceHash || a.Events != b.Events {
		t.Fatalf("seed 42 ran twice: trace %016x (%d events) vs %016x (%d events)", a.TraceHash, a.Events, b.TraceHash, b.Events)
	}
	c, _ := Swarm(SwarmOptions{Nodes: 20, Seed: 43, Duration: 10 * time.Second, Faults: plan}, time.Now)
	if c.TraceHash == a.TraceHash {
		t.Fatal("seeds 42 and 43 gave the same trace: the hash sees nothing")
	}
}

// A swarm written out as a scenario replays exactly: the script's world
// ends with the same trace hash as the run that recorded it.
func TestSwarmWrittenAsScenarioReplaysExactly(t *testing.T) {
	for _, intruders := range []int{0, 3} {
		replaysExactly(t, intruders)
	}
}

func replaysExactly(t *testing.T, intruders int) {
	t.Helper()
	plan, _ := ParseFaults("default")
	sum, err := Swarm(SwarmOptions{Nodes: 12, Seed: 9, Duration: 15 * time.Second, Faults: plan, Record: true, Intruders: intruders}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScript()
	for _, line := range strings.Split(sum.Script, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if out, err := s.Run(line); errors.Is(err, ErrCheck) {
			t.Errorf("%s: the run passed, its script fails: %s", line, out)
		} else if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	if got := s.World().TraceHash(); got != sum.TraceHash {
		t.Fatalf("replayed trace %016x, recorded %016x", got, sum.TraceHash)
	}
}

// On a quiet network nothing goes missing, so nothing is repaired and
// nothing is declared lost, whatever the churn of subscriptions and
// retained publishes: a hole here means the numbering itself is wrong.
func TestQuietSwarmNeedsNoRepair(t *testing.T) {
	plan, _ := ParseFaults("none")
	sum, err := Swarm(SwarmOptions{Nodes: 10, Seed: 1, Duration: 60 * time.Second, Faults: plan, FaultsText: "none"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failure != "" {
		t.Fatalf("%s\nreplay: %s", sum.Failure, sum.Replay)
	}
	if sum.Repaired != 0 || sum.Gaps != 0 {
		t.Fatalf("%d messages repaired and %d declared lost with no fault (%d published)\nreplay: %s", sum.Repaired, sum.Gaps, sum.Published, sum.Replay)
	}
}
