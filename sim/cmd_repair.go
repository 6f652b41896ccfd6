package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// repair node=I: how the node's holes were dealt with: resends it asked
// for and answered, pushes it deferred because a hold was full, messages
// it recovered, and the numbers it declared lost, by why.
func cmdRepair(s *Script, a *args) (string, error) {
	n, down, err := s.upNode(a)
	if n == nil {
		return down, err
	}
	c := n.Status().Counters
	var lost []string
	for _, k := range slices.Sorted(maps.Keys(c.Passed)) {
		if why, ok := strings.CutPrefix(k, "lost_"); ok && c.Passed[k] > 0 {
			lost = append(lost, fmt.Sprintf("%s=%d", why, c.Passed[k]))
		}
	}
	if len(lost) == 0 {
		lost = []string{"none"}
	}
	return fmt.Sprintf("asked=%d answered=%d deferred=%d repaired=%d lost: %s",
		c.ResendsRequested, c.ResendsAnswered, c.PushesDeferred, c.Repaired, strings.Join(lost, " ")), nil
}
