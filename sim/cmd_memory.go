package sim

import (
	"fmt"
	"slices"
	"strings"
)

// memory node=I: what each of the node's stores holds, in bytes, against
// its budget, and what the stores shed to stay within their caps.
func cmdMemory(s *Script, a *args) (string, error) {
	n, down, err := s.upNode(a)
	if n == nil {
		return down, err
	}
	st := n.Status()
	m := st.Memory
	out := fmt.Sprintf("ring=%d queues=%d backlogs=%d departed=%d held=%d retained=%d dedup=%d total=%d budget=%d",
		m.Ring, m.Queues, m.Backlogs, m.Departed, m.Held, m.Retained, m.Dedup, m.Total, m.Budget)
	var shed []string
	for store, n := range st.Counters.Shed {
		shed = append(shed, fmt.Sprintf("%s=%d/%dB", store, n, st.Counters.ShedBytes[store]))
	}
	if len(shed) == 0 {
		return out + "\nshed nothing", nil
	}
	slices.Sort(shed)
	return out + "\nshed " + strings.Join(shed, " "), nil
}
