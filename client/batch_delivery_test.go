package client

import (
	"context"
	"testing"
	"time"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// Pins that every message of a v1 batch event reaches the application,
// in order, not just its first.
func TestEveryMessageOfABatchIsDeliveredInOrder(t *testing.T) {
	f := &fakeDaemon{instance: "run-1", known: map[string]bool{}, cut: make(chan struct{}),
		live: func(send func(*sidecarpb.MessageEvent) error) error {
			return send(&sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_Batch{Batch: &sidecarpb.MessageBatch{
				Messages: []*sidecarpb.Message{msg("t", 1), msg("t", 2), msg("t", 3)}}}})
		}}
	c, err := Dial(context.Background(), startFake(t, f))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, []string{"t"}, MaxBatch(8))
	if err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 3; want++ {
		if m, err := sub.Next(ctx); err != nil || m.Sequence != want || m.Kind != Live {
			t.Fatalf("message %d: %+v %v", want, m, err)
		}
	}
}
