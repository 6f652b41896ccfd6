package sim

import (
	"fmt"
	"slices"
	"strings"
)

// peers node=I: the node's peer table: name, status, whether synced, and
// the patterns it routes to that peer.
func cmdPeers(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, p := range s.w.Node(i).Peers() {
		sync := "unsynced"
		if p.Synced {
			sync = "synced"
		}
		pats := strings.Join(p.Patterns, ",")
		if pats == "" {
			pats = "-"
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %s", s.w.nameOf(p.ID), p.Status, sync, pats))
	}
	slices.Sort(lines)
	if len(lines) == 0 {
		return "(no peers)", nil
	}
	return strings.Join(lines, "\n"), nil
}
