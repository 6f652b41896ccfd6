package sim

import (
	"fmt"
	"slices"
	"strings"
)

// rejected node=I: what the node refused or dropped, by reason, sorted.
func cmdRejected(s *Script, a *args) (string, error) {
	n, down, err := s.upNode(a)
	if n == nil {
		return down, err
	}
	rej := n.Status().Counters.Rejected
	var lines []string
	for reason, n := range rej {
		lines = append(lines, fmt.Sprintf("%s=%d", reason, n))
	}
	if len(lines) == 0 {
		return "(nothing)", nil
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n"), nil
}
