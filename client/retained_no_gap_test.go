package client

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// Pins that a retained value stays out of gap detection: a live message
// numbered past an old retained value's number is no gap (what came
// between was published before the subscription began).
func TestARetainedValueIsNotCountedForGaps(t *testing.T) {
	live := func(m *sidecarpb.Message) *sidecarpb.MessageEvent {
		return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_Message{Message: m}}
	}
	f := &fakeDaemon{instance: "run-1", known: map[string]bool{}, cut: make(chan struct{}),
		live: func(send func(*sidecarpb.MessageEvent) error) error {
			for _, ev := range []*sidecarpb.MessageEvent{
				{Event: &sidecarpb.MessageEvent_RetainedMessage{RetainedMessage: msg("t", 5)}},
				live(msg("t", 7)),
				// A real hole on another topic: its gap is reported after any for t.
				live(msg("u", 1)), live(msg("u", 3)),
			} {
				if err := send(ev); err != nil {
					return err
				}
			}
			return nil
		}}
	var mu sync.Mutex
	var gaps []Gap
	seen := make(chan struct{})
	c, err := Dial(context.Background(), startFake(t, f), WithGapHandler(func(g Gap) {
		mu.Lock()
		defer mu.Unlock()
		if gaps = append(gaps, g); g.Topic == "u" {
			close(seen)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, []string{"#"}, ReceiveRetained())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if _, err := sub.Next(ctx); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	select {
	case <-seen:
	case <-ctx.Done():
		t.Fatal("the gap on u was never reported")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gaps) != 1 {
		t.Fatalf("gaps %+v, want only u's", gaps)
	}
}
