package sim

import (
	"fmt"
	"time"
)

// Quiet reports whether the mesh has settled: routing converged, retained
// values agree, no call in flight, nothing held behind a hole or waiting
// for a peer.
func (w *World) Quiet() (bool, string) {
	for _, sn := range w.upNodes() {
		if b := sn.node.Backlog(); b.Unsynced > 0 {
			return false, fmt.Sprintf("%s has not synced the latest state of %d peers", sn.name, b.Unsynced)
		}
	}
	if ok, why := w.Settled(); !ok {
		return false, why
	}
	if ok, why := w.Converged(); !ok {
		return false, why
	}
	if ok, why := w.RetainedAgree(); !ok {
		return false, why
	}
	return true, ""
}

// stabilizeStep is how often Stabilize looks.
const stabilizeStep = 100 * time.Millisecond

// Stabilize runs until the mesh is quiet, at most limit; it returns how
// long that took.
func (w *World) Stabilize(limit time.Duration) (time.Duration, bool) {
	start := w.now
	for {
		if ok, _ := w.Quiet(); ok {
			return w.now - start, true
		}
		if w.now-start >= limit || w.RunFor(stabilizeStep) != nil {
			return w.now - start, false
		}
	}
}

func errNoSub(name string) error { return fmt.Errorf("no subscription named %q", name) }
