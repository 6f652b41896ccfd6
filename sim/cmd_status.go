package sim

import (
	"fmt"

	"github.com/nexusd/nexusd/state"
)

// status node=I: the node's main counts.
func cmdStatus(s *Script, a *args) (string, error) {
	n, down, err := s.upNode(a)
	if n == nil {
		return down, err
	}
	st := n.Status()
	c := st.Counters
	return fmt.Sprintf("subscriptions=%d paused=%d patterns=%d peers=%d+%d suspected retained=%d buffered=%d\n"+
		"published=%d delivered=%d received=%d dropped=%d expired=%d replayed=%d repaired=%d gaps=%d/%d duplicates=%d%s",
		st.Subscriptions, st.Paused, st.Patterns, st.PeersAlive, st.PeersSuspected, st.Retained, st.BufferedMsgs,
		c.Published, c.DeliveredLocal, c.ReceivedRemote, c.Dropped, c.Expired, c.Replayed, c.Repaired, c.Gaps, c.GapMessages, c.Duplicates, membership(c)), nil
}

// membership is the status line's tail for address moves and conflicts,
// when there were any.
func membership(c state.Counters) string {
	if c.PeersMoved == 0 && c.AddrConflicts == 0 {
		return ""
	}
	return fmt.Sprintf("\nmoved=%d address-conflicts=%d", c.PeersMoved, c.AddrConflicts)
}
