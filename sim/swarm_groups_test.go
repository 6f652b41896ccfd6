package sim

import (
	"testing"
	"time"
)

// A swarm with queue groups: through the faults, every message published
// while a member was known reaches exactly one member of each group, or is
// accounted for (its chosen node died, or declared it lost); and the same
// seed gives the same run.
func TestSwarmWithQueueGroups(t *testing.T) {
	for _, faults := range []string{"default", "heavy"} {
		plan, err := ParseFaults(faults)
		if err != nil {
			t.Fatal(err)
		}
		o := SwarmOptions{Nodes: 40, Seed: 7, Duration: 20 * time.Second, Faults: plan, FaultsText: faults, Groups: 3}
		sum, err := Swarm(o, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Failure != "" {
			t.Fatalf("%s: %s\nreplay: %s", faults, sum.Failure, sum.Replay)
		}
		again, _ := Swarm(o, time.Now)
		if again.TraceHash != sum.TraceHash {
			t.Fatalf("%s: the same seed ran twice: trace %016x vs %016x", faults, sum.TraceHash, again.TraceHash)
		}
	}
}

func TestCheckGroupFindsLossAndDuplicates(t *testing.T) {
	r := GroupReport{Messages: 3, Got: map[string]int{"a": 2, "b": 2}, Lost: []string{"t#3"}, Twice: []string{"t#1 to a+b"}}
	out, err := r.verdict(-1)
	if err == nil || out != "1 reached no member: t#3\n1 reached more than one member: t#1 to a+b" {
		t.Fatalf("verdict %q, %v", out, err)
	}
	r = GroupReport{Messages: 100, Got: map[string]int{"a": 60, "b": 40}}
	if _, err := r.verdict(10); err == nil {
		t.Fatal("60/40 passed as within 10% of even")
	}
}
