package sim

import (
	"fmt"
	"slices"
	"strings"
)

// peers node=I: the node's peer table: name, status, whether synced, and
// the patterns it routes to that peer; at=ADDR when the node reaches the
// peer at another address than the peer's own.
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
		shown := make([]string, len(p.Patterns))
		for j, pat := range p.Patterns {
			shown[j] = s.w.showIDs(pat)
		}
		pats := strings.Join(shown, ",")
		if pats == "" {
			pats = "-"
		}
		line := fmt.Sprintf("%s %s %s %s", s.w.nameOf(p.ID), p.Status, sync, pats)
		if sn := s.w.nodeByID(p.ID); sn == nil || sn.addr != p.Addr {
			line += " at=" + p.Addr
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	if len(lines) == 0 {
		return "(no peers)", nil
	}
	return strings.Join(lines, "\n"), nil
}
