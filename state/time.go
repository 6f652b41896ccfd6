package state

import (
	"fmt"
	"time"
)

// Instant is what the owner's clocks read when it hands the node an event.
//
// Mono drives every timer (beacons, suspicion, retries, pause expiry); it
// must never go backwards. WallMs stamps messages and judges TTL, which
// counts from a message's timestamp_ms (docs/protocol.md §7.3); it may
// jump, and a jump changes only those two things.
type Instant struct {
	Mono   time.Duration // monotonic reading since an arbitrary origin
	WallMs int64         // wall clock, Unix milliseconds
}

// At returns the instant with both clocks advanced by d.
func (t Instant) At(d time.Duration) Instant {
	return Instant{Mono: t.Mono + d, WallMs: t.WallMs + d.Milliseconds()}
}

func (t Instant) String() string { return fmt.Sprintf("t=%s", fmtDur(t.Mono)) }

// Never is the deadline of a node with nothing scheduled.
const Never = time.Duration(1<<63 - 1)

// fmtDur prints a duration compactly and canonically for scenario output:
// 1.5s, 250ms, 0s.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d%time.Millisecond == 0 && d < time.Second:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%gs", float64(d/time.Millisecond)/1000)
	}
	return d.String()
}
