package client

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// The daemon's backpressure warnings carry running totals; the client
// hands the application what changed since the subscription's last
// warning (Dropped) beside the totals (TotalDropped), so two warnings of
// one subscription report each lost message once.
func TestBackpressureWarningsReportWhatChangedSinceTheLast(t *testing.T) {
	warning := func(dropped uint64) *sidecarpb.MessageEvent {
		return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_BackpressureWarning{
			BackpressureWarning: &sidecarpb.BackpressureWarning{Reason: "slow_consumer", MessagesDropped: dropped}}}
	}
	f := &fakeDaemon{instance: "run-1", known: map[string]bool{}, cut: make(chan struct{}),
		live: func(send func(*sidecarpb.MessageEvent) error) error {
			if err := send(warning(3)); err != nil {
				return err
			}
			return send(warning(5))
		}}
	addr := startFake(t, f)
	var mu sync.Mutex
	var got []BackpressureWarning
	two := make(chan struct{})
	c, err := Dial(context.Background(), addr, WithBackpressureHandler(func(w BackpressureWarning) {
		mu.Lock()
		defer mu.Unlock()
		if got = append(got, w); len(got) == 2 {
			close(two)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Subscribe(ctx, []string{"t"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-two:
	case <-ctx.Done():
		t.Fatal("the two warnings never reached the handler")
	}
	mu.Lock()
	defer mu.Unlock()
	if got[0].Dropped != 3 || got[0].TotalDropped != 3 || got[1].Dropped != 2 || got[1].TotalDropped != 5 {
		t.Fatalf("warnings %+v, want dropped 3 (total 3) then 2 (total 5)", got)
	}
}
