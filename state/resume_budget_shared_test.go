package state

import "testing"

// ReplayLimitPerResume bounds one resume's replay over all its topics, not
// topic by topic: once the topics replayed first (by name) have used the
// budget, the next topic replays only what is left of it, its newest
// messages, and the rest counts as missed.
func TestAResumesReplayBudgetIsSharedByItsTopics(t *testing.T) {
	h, id := pausedAfter(t, []string{"a/x", "a/x", "a/x", "a/y", "a/y", "a/y"}, func(c *Config) { c.ReplayLimitPerResume = 4 })
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2, "a/y": 0}, Mode: RecoverReplay, Credit: 100})
	checkLog(t, effs, 2,
		"info gap missed=2 replay",
		"replay a/x#3 p3", "replay a/x#4 p4", "replay a/x#5 p5", "replay-complete a/x count=3 latest=5",
		"replay a/y#3 p8", "replay-complete a/y count=1 latest=3")
}
