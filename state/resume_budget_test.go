package state

import "testing"

// A resume that missed more than ReplayLimitPerResume messages replays
// the newest of them, the ones right before live messages, and reports
// the older ones missed: the replay then meets the live stream with no
// gap between them, and the one gap the client sees is at the start.
func TestAResumeOverItsReplayBudgetReplaysTheNewestMessages(t *testing.T) {
	h, id := pausedAfter(t, during("a/x", 8), func(c *Config) { c.ReplayLimitPerResume = 3 })
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverReplay, Credit: 100})
	effs = append(effs, h.publish("a/x", "p11")...)
	checkLog(t, effs, 2,
		"info gap missed=5 replay",
		"replay a/x#8 p8", "replay a/x#9 p9", "replay a/x#10 p10", "replay-complete a/x count=3 latest=10",
		"msg a/x#11 p11")
}
