package sim

import (
	"fmt"
	"strings"
	"time"
)

// run for=DURATION: let virtual time pass. It prints the safety
// violations that happened meanwhile, if any.
func cmdRun(s *Script, a *args) (string, error) {
	d, err := a.dur("for", 0)
	if err != nil || d == 0 {
		return "", fmt.Errorf("run: for= is required, such as for=3s")
	}
	return s.runFor(d)
}

func (s *Script) runFor(d time.Duration) (string, error) {
	before := len(s.w.checks.violations)
	err := s.w.RunFor(d)
	if err != nil {
		return "", err
	}
	if v := s.w.checks.violations[before:]; len(v) > 0 {
		var lines []string
		for _, x := range v {
			lines = append(lines, x.kind+": "+x.msg)
		}
		return strings.Join(lines, "\n"), ErrCheck
	}
	return "ok", nil
}
