package sim

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// A push sent into a cut link stalls its stream: when the cut heals and a
// later push gets through on the same stream, the answer to it must not
// complete the stalled push as taken. The stalled push fails at the
// stream's deadline, goes again, and arrives; the retained values agree.
// (Once an answer did complete it, the receiver never got the value and
// RetainedAgree caught the split: swarm --seed 3 --intruders 10.)
func TestPushStalledByCutIsNotCompletedByALaterAnswer(t *testing.T) {
	var trace []string
	w, err := New(Options{Nodes: 2, Seed: 5, Net: DefaultNet(), Trace: func(l string) { trace = append(trace, l) }})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	if _, ok := w.Stabilize(30 * time.Second); !ok {
		t.Fatal("did not stabilize")
	}
	publish := func(topic, payload string) {
		t.Helper()
		if err := w.Publish(1, topic, []byte(payload), PublishOptions{Retain: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	publish("cfg/a", "a1") // opens node 1's push stream to node 2
	if err := w.RunFor(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	w.Cut(1, 2)
	publish("cfg/b", "b1") // stalls in the cut
	if err := w.RunFor(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	w.Heal()
	publish("cfg/a", "a2") // the same stream, well before its deadline
	if _, ok := w.Stabilize(30 * time.Second); !ok {
		_, why := w.Quiet()
		t.Fatalf("not quiet: %s", why)
	}

	all := strings.Join(trace, "\n")
	m := regexp.MustCompile(`n1 -> push call=(\d+) \S+ cfg/b#`).FindStringSubmatch(all)
	if m == nil {
		t.Fatalf("no push of cfg/b in the trace:\n%s", all)
	}
	first := regexp.MustCompile(`n1 <- push-result call=` + m[1] + `\b.*`).FindString(all)
	if !strings.Contains(first, "err=") {
		t.Fatalf("the push that stalled in the cut completed as %q, want a failure", first)
	}
	if got := retainedKey(w.nodes[1]); got != `cfg/a="a2" cfg/b="b1"` {
		t.Fatalf("n2 holds [%s], want both values", got)
	}
}
