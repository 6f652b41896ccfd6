package fuzz

import (
	"fmt"

	"github.com/nexusd/nexusd/state"
)

// checkNode is what every target requires of a node after every step,
// whether it drives the node directly or a daemon around it: its hash
// matches its patterns and queue groups, its memory stays within its
// caps, its counters agree with each other, and its own invariants hold
// (CheckInvariants).
// It must be called on the goroutine that owns the node.
func checkNode(n *state.Node) error {
	if got, want := n.Hash(), state.StateHash(n.Patterns(), n.GroupEntries()); got != want {
		return fmt.Errorf("hash %016x does not match patterns %v and groups %v (%016x)", got, n.Patterns(), n.GroupEntries(), want)
	}
	st, cfg := n.Status(), n.Config()
	c := &st.Counters
	switch {
	case st.BufferedBytes > cfg.RingBytes:
		return fmt.Errorf("rings hold %d bytes, cap %d", st.BufferedBytes, cfg.RingBytes)
	case st.Topics > cfg.MaxTopics:
		return fmt.Errorf("%d topics, cap %d", st.Topics, cfg.MaxTopics)
	case st.Patterns > cfg.MaxPatterns:
		return fmt.Errorf("%d patterns, cap %d", st.Patterns, cfg.MaxPatterns)
	case st.Subscriptions+st.Paused > cfg.MaxSubscriptions:
		return fmt.Errorf("%d subscriptions, cap %d", st.Subscriptions+st.Paused, cfg.MaxSubscriptions)
	case st.Streams > cfg.MaxStreams:
		return fmt.Errorf("%d stream trackers, cap %d", st.Streams, cfg.MaxStreams)
	case st.QueuedMsgs > (st.Subscriptions+st.Paused)*(cfg.QueueLimit+cfg.BlockedLimit):
		return fmt.Errorf("%d queued", st.QueuedMsgs)
	case st.BacklogMsgs > (st.PeersAlive+st.PeersSuspected)*cfg.PeerBacklogLimit:
		return fmt.Errorf("%d waiting for peers", st.BacklogMsgs)
	case st.Held > st.Streams*(cfg.RepairHoldLimit+1):
		return fmt.Errorf("%d held behind holes", st.Held)
	case st.FetchesInFlight > cfg.MaxFetchesInFlight:
		return fmt.Errorf("%d fetches in flight, cap %d", st.FetchesInFlight, cfg.MaxFetchesInFlight)
	case c.FetchesOK+c.FetchesFailed > c.FetchesStarted:
		return fmt.Errorf("%d fetches ended (%d ok, %d failed) of %d started", c.FetchesOK+c.FetchesFailed, c.FetchesOK, c.FetchesFailed, c.FetchesStarted)
	case c.ProbesOK+c.ProbesFailed > c.ProbesSent:
		return fmt.Errorf("%d probes ended (%d ok, %d failed) of %d sent", c.ProbesOK+c.ProbesFailed, c.ProbesOK, c.ProbesFailed, c.ProbesSent)
	}
	return n.CheckInvariants()
}
