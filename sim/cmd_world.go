package sim

import (
	"fmt"
	"strconv"
	"strings"
)

// world nodes=N [seed=S] [clusters=A,A,B...]: a new world of N started
// nodes on a quiet network. clusters names each node's cluster in order.
func cmdWorld(s *Script, a *args) (string, error) {
	n, err := a.int("nodes", 0)
	if err != nil {
		return "", err
	}
	seed := uint64(1)
	if v := a.str("seed", ""); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return "", fmt.Errorf("world: seed=%q is not a whole number", v)
		}
	}
	opts := Options{Nodes: n, Seed: seed, Net: DefaultNet()}
	if v := a.str("clusters", ""); v != "" {
		names := strings.Split(v, ",")
		if len(names) != n {
			return "", fmt.Errorf("world: clusters= names %d clusters for %d nodes", len(names), n)
		}
		opts.Cluster = func(i int) string { return names[i] }
	}
	w, err := New(opts)
	if err != nil {
		return "", err
	}
	w.Start()
	s.w = w
	return "ok", nil
}
