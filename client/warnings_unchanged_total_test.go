package client

import (
	"testing"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// Pins the warning delta when a running total did not move: a second
// warning with the same dropped total reports 0 dropped since the last.
func TestAWarningWhoseTotalDidNotMoveReportsNothingDroppedSinceTheLast(t *testing.T) {
	f := &fakeDaemon{instance: "run-1", known: map[string]bool{}, cut: make(chan struct{}),
		live: func(send func(*sidecarpb.MessageEvent) error) error {
			if err := send(warnEvent(4)); err != nil {
				return err
			}
			return send(warnEvent(4))
		}}
	got := twoWarnings(t, startFake(t, f))
	if got[0].Dropped != 4 || got[1].Dropped != 0 || got[1].TotalDropped != 4 {
		t.Fatalf("warnings %+v, want dropped 4 then 0 (total 4)", got)
	}
}
