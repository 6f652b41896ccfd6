package sim

import (
	"fmt"
	"testing"
	"time"
)

func TestThreeNodesConvergeAndDeliver(t *testing.T) {
	w, err := New(Options{Nodes: 3, Seed: 1, Net: DefaultNet()})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	if err := w.Subscribe(3, "s", []string{"a/#"}, SubOptions{Record: true}); err != nil {
		t.Fatal(err)
	}
	if err := w.RunFor(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if ok, why := w.Converged(); !ok {
		t.Fatalf("not converged: %s", why)
	}
	for i := range 10 {
		if err := w.Publish(1, "a/b", []byte(fmt.Sprint(i)), PublishOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.RunFor(time.Second); err != nil {
		t.Fatal(err)
	}
	c := w.clients["s"]
	if got := fmt.Sprint(c.payloads); got != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Fatalf("got %s\n%v", got, c.events)
	}
	if v := w.CheckAccounting(); len(v) > 0 {
		t.Fatal(v)
	}
}

// A graceful leave is counted as a leave, a crash as a crash; stopping a
// node that is down already counts nothing.
func TestLeavesAndCrashesAreCountedApart(t *testing.T) {
	w, err := New(Options{Nodes: 3, Seed: 1, Net: DefaultNet()})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	if err := w.RunFor(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	w.Leave(2)
	w.Leave(2)
	w.Crash(3)
	w.Crash(2)
	if st := w.Stats(); st.Leaves != 1 || st.Crashes != 1 {
		t.Fatalf("leaves %d, crashes %d; want 1 and 1", st.Leaves, st.Crashes)
	}
}
