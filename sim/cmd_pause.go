package sim

import "fmt"

// pause node=I for=DURATION: the node stops processing (a stalled
// process); what reaches it waits until it wakes.
func cmdPause(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	d, err := a.dur("for", 0)
	if err != nil || d == 0 {
		return "", fmt.Errorf("pause: for= is required, such as for=5s")
	}
	s.w.Pause(i, d)
	return "ok", nil
}
