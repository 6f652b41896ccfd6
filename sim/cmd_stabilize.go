package sim

import (
	"fmt"
	"time"
)

// stabilize [max=DURATION]: run until the mesh is quiet (routing
// converged, retained values agree, no call in flight, nothing held behind
// a hole or waiting for a peer), at most max (default 30s).
func cmdStabilize(s *Script, a *args) (string, error) {
	limit, err := a.dur("max", 30*time.Second)
	if err != nil {
		return "", err
	}
	if _, ok := s.w.Stabilize(limit); !ok {
		_, why := s.w.Quiet()
		return fmt.Sprintf("not stable after %s: %s", fmtDur(limit), why), ErrCheck
	}
	return "ok", nil
}
