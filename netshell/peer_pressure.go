package netshell

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
)

// peerPressure tells publish streams whether to wait: the loop sets it
// after every input from the node's PeersBackedUp, so a link to a live
// peer that takes messages more slowly than local publishers hand them
// over holds the publishers back (gRPC flow control then reaches the
// application) instead of letting the link's backlog shed what it cannot
// carry. Waits are bounded, so a link that never drains only costs its
// publishers that long before the backlog sheds as it always did.
type peerPressure struct {
	backed  atomic.Bool // read without the lock on every frame
	mu      sync.Mutex
	cleared chan struct{}  // closed when backed turns false
	waits   *atomic.Uint64 // publish frames that waited (a metric)
}

// set is called by the loop.
func (pp *peerPressure) set(backed bool) {
	if pp.backed.Load() == backed {
		return
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if backed {
		pp.cleared = make(chan struct{})
	} else if pp.cleared != nil {
		close(pp.cleared)
		pp.cleared = nil
	}
	pp.backed.Store(backed)
}

// wait returns at once when no link is backed up; otherwise when one no
// longer is, after most, or when ctx ends.
func (pp *peerPressure) wait(ctx context.Context, clk clock.Clock, most time.Duration) error {
	if !pp.backed.Load() {
		return nil
	}
	pp.mu.Lock()
	ch := pp.cleared
	pp.mu.Unlock()
	if ch == nil {
		return nil
	}
	if pp.waits != nil {
		pp.waits.Add(1)
	}
	expired := make(chan struct{})
	t := clk.AfterFunc(most, func() { close(expired) })
	defer t.Stop()
	select {
	case <-ch:
	case <-expired:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
