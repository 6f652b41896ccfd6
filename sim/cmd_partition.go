package sim

import (
	"fmt"
	"strings"
)

// partition I,J|K,L: split the nodes into groups that cannot reach each
// other; nodes in no group join the first.
func cmdPartition(s *Script, a *args) (string, error) {
	if len(a.pos) != 1 {
		return "", fmt.Errorf("partition: want groups such as 1,2|3,4")
	}
	var groups [][]int
	for _, g := range strings.Split(a.pos[0], "|") {
		var members []int
		for _, m := range strings.Split(g, ",") {
			i, err := s.nodeNum("partition", m)
			if err != nil {
				return "", err
			}
			members = append(members, i)
		}
		groups = append(groups, members)
	}
	if err := s.w.Partition(groups); err != nil {
		return "", err
	}
	return "ok", nil
}
