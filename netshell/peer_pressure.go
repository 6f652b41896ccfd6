package netshell

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/nexusd/nexusd/state"
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
	busy    atomic.Bool // a live link has pushes in flight or waiting (state.Node.PeersBusy): PublishPacked acks give the first credit only
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

// heldInput is a publish the loop holds back until the link drains.
type heldInput struct {
	in    input
	until time.Duration // on the loop's clock (since l.start): taken then at the latest
}

// take steps in, unless it is a publish that comes while a link is backed
// up, or behind one held: then the loop holds it, for as long as a
// publisher waits at most (--block-timeout). Publish streams wait before
// they post a frame (peerPressure.wait), but a frame posted before the
// loop marked the link backed, and one the stream read while the loop was
// still answering, would otherwise go on: with every publisher's credit
// window in the loop's queue at once, a backlog past its limit sheds what
// a publisher that kept to its credit and the pressure was promised would
// wait. Held publishes keep their order; nothing else waits behind them.
func (l *loop) take(in input) {
	if isPublish(in.ev) && (len(l.held) > 0 || l.pressure.backed.Load()) {
		l.held = append(l.held, heldInput{in: in, until: l.clk.Since(l.start) + l.holdMost})
		l.stats.PublishesHeld++
		if l.pressure.waits != nil {
			l.pressure.waits.Add(1)
		}
		return
	}
	l.handle(in)
	l.release()
}

// release steps the held publishes, oldest first, while no link is backed
// up, and any held past its time (its publishes then shed, as they always
// did when a link never drains).
func (l *loop) release() {
	for len(l.held) > 0 && (!l.pressure.backed.Load() || l.clk.Since(l.start) >= l.held[0].until) {
		in := l.held[0].in
		l.held[0] = heldInput{}
		l.held = l.held[1:]
		l.handle(in) // sets the pressure again
	}
	if len(l.held) == 0 {
		l.held = nil
	}
}

// heldDeadline is when the oldest held publish must be taken, on the
// loop's clock, or state.Never.
func (l *loop) heldDeadline() time.Duration {
	if len(l.held) == 0 {
		return state.Never
	}
	return l.held[0].until
}
