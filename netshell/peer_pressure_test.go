package netshell

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
)

// A publish frame waits while a link is backed up, goes on when it
// drains, and waits at most the bound; the waits are counted.
func TestPublishersWaitForABackedUpLinkAtMostTheBound(t *testing.T) {
	clk := clock.NewMock()
	var waits atomic.Uint64
	pp := peerPressure{waits: &waits}
	ctx := context.Background()
	if err := pp.wait(ctx, clk, time.Second); err != nil || waits.Load() != 0 {
		t.Fatalf("no pressure: wait = %v, %d waits", err, waits.Load())
	}

	pp.set(true)
	done := make(chan error, 1)
	go func() { done <- pp.wait(ctx, clk, time.Second) }()
	select {
	case err := <-done:
		t.Fatalf("returned %v while the link is backed up", err)
	case <-time.After(20 * time.Millisecond):
	}
	pp.set(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	pp.set(true)
	go func() { done <- pp.wait(ctx, clk, time.Second) }()
	for waits.Load() < 2 { // the waiter has armed its timer
		time.Sleep(time.Millisecond)
	}
	clk.Add(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := pp.wait(cctx, clk, time.Second); err == nil {
		t.Fatal("a cancelled publisher kept waiting without an error")
	}
	if waits.Load() != 3 {
		t.Errorf("%d waits counted, want 3", waits.Load())
	}
}
