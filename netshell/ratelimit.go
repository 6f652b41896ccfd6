package netshell

import (
	"net/netip"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// Beacons a source address may send: a daemon sends one a second, so this
// leaves room for a host running many daemons, and a flood from one
// address costs a map lookup per datagram past it.
const (
	sourceBeaconRate  = 200 // per second, refilled continuously
	sourceBeaconBurst = 400
	maxSources        = 4096 // addresses tracked; past it the idlest are forgotten
)

// sourceLimiter is a token bucket per source address for discovery
// datagrams. It is safe for concurrent use.
type sourceLimiter struct {
	clk     clock.Clock
	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newSourceLimiter(clk clock.Clock) sourceLimiter {
	return sourceLimiter{clk: clk, buckets: map[netip.Addr]*bucket{}}
}

// allow takes one token from src's bucket, or reports that it has none.
func (l *sourceLimiter) allow(src netip.Addr) bool {
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[src]
	if b == nil {
		if len(l.buckets) >= maxSources {
			l.forgetFull(now)
		}
		b = &bucket{tokens: sourceBeaconBurst, at: now}
		l.buckets[src] = b
	}
	b.tokens = min(sourceBeaconBurst, b.tokens+now.Sub(b.at).Seconds()*sourceBeaconRate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// forgetFull drops the buckets that have refilled: a source forgotten then
// starts full, as it would be. If every source is busy, all are forgotten.
func (l *sourceLimiter) forgetFull(now time.Time) {
	for a, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*sourceBeaconRate >= sourceBeaconBurst {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) >= maxSources {
		clear(l.buckets)
	}
}
