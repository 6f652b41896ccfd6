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
