package netshell

import (
	"net/netip"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
)

func sourceAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// allowed is how many of n datagrams from src the limiter lets through.
func allowed(l *sourceLimiter, src netip.Addr, n int) int {
	ok := 0
	for range n {
		if l.allow(src) {
			ok++
		}
	}
	return ok
}

// A source's bucket refills at sourceBeaconRate a second, and never holds
// more than sourceBeaconBurst however long the source was quiet.
func TestASourceRefillsAtTheRateUpToTheBurst(t *testing.T) {
	clk := clock.NewMock()
	l := newSourceLimiter(clk)
	src := sourceAddr(1)
	if n := allowed(&l, src, 2*sourceBeaconBurst); n != sourceBeaconBurst {
		t.Fatalf("a new source: %d of %d allowed, want the burst %d", n, 2*sourceBeaconBurst, sourceBeaconBurst)
	}
	clk.Add(time.Second)
	if n := allowed(&l, src, 2*sourceBeaconBurst); n != sourceBeaconRate {
		t.Fatalf("an exhausted source a second later: %d allowed, want the rate %d", n, sourceBeaconRate)
	}
	clk.Add(time.Hour)
	if n := allowed(&l, src, 2*sourceBeaconBurst); n != sourceBeaconBurst {
		t.Fatalf("after an hour's quiet: %d allowed, want no more than the burst %d", n, sourceBeaconBurst)
	}
}

// When the table is full, the sources whose buckets have refilled (here
// to exactly the burst) are forgotten to make room, and a busy one is
// kept: its exhausted bucket is not handed a fresh burst.
func TestAFullTableForgetsRefilledSourcesAndKeepsABusyOne(t *testing.T) {
	clk := clock.NewMock()
	l := newSourceLimiter(clk)
	for i := range maxSources - 1 {
		l.allow(sourceAddr(i)) // one token short of the burst
	}
	clk.Add(time.Second / sourceBeaconRate) // the one token back: full again
	busy := sourceAddr(maxSources)
	if n := allowed(&l, busy, sourceBeaconBurst); n != sourceBeaconBurst {
		t.Fatalf("the busy source: %d allowed, want its burst %d", n, sourceBeaconBurst)
	}
	if !l.allow(sourceAddr(maxSources + 1)) {
		t.Fatal("a new source past a full table was refused")
	}
	if l.allow(busy) {
		t.Fatal("the exhausted source was forgotten when the table filled, and given a fresh burst")
	}
}

// At most maxSources addresses are tracked: when every tracked source is
// busy, a new one makes the limiter forget them all rather than grow.
func TestTheLimiterNeverTracksMoreThanMaxSources(t *testing.T) {
	l := newSourceLimiter(clock.NewMock())
	for i := range maxSources + 1 {
		l.allow(sourceAddr(i))
		if n := len(l.buckets); n > maxSources {
			t.Fatalf("after %d sources, %d tracked: want at most %d", i+1, n, maxSources)
		}
	}
}
