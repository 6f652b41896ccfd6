package netshell

import (
	"context"
	"testing"
	"time"

	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// A session that ends while one of its opens is posted to the loop but
// not yet answered ends that subscription too, as it ends those already
// open: the close the session posts names it, after the open, so the
// node never keeps a subscription whose stream is gone. The loop is held
// so the open is still queued when the session ends.
func TestASessionEndingBeforeAnOpenIsAnsweredEndsThatSubscription(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	held, release := make(chan struct{}), make(chan struct{})
	go ts.s.loop.query(ctx, func(*loop) { close(held); <-release })
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the loop never ran the query")
	}
	waitQueued := func(n int, what string) {
		t.Helper()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for len(ts.s.loop.in) < n {
			select {
			case <-ctx.Done():
				close(release)
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			case <-tick.C:
			}
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	se := openSession(t, sctx, ts)
	sendSession(t, se, sessionSubscribe(1, 0, &sidecarpb.SubscribeRequest{Topics: []string{"t"}}))
	waitQueued(1, "the open to be posted")
	cancel()
	waitQueued(2, "the session's close to be posted after the open")
	close(release)
	waitSubs(t, ctx, ts, "the subscription to end with its session", func(m map[string]state.SubscriptionStatus) bool {
		return len(m) == 0
	})
}
