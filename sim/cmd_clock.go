package sim

import (
	"fmt"
	"time"
)

// clock node=I jump=DURATION: move the node's wall clock (a negative
// duration moves it back); its monotonic clock keeps going.
func cmdClock(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	v, err := a.need("jump")
	if err != nil {
		return "", err
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return "", fmt.Errorf("clock: jump=%q: want a duration such as 10s or -1m", v)
	}
	s.w.JumpClock(i, d)
	return "ok", nil
}
