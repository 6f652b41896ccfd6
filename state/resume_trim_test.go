package state

import "testing"

// A resume whose replay would take the subscription past QueueBytes
// replays only the newest messages that fit, and reports every one it
// left out as missed: the subscription_info of the resume says
// GapDetected with Missed counting the messages trimmed for the byte cap,
// so the client is told of the loss instead of seeing a replay that ends
// short with no gap reported.
func TestAResumeTrimmedToQueueBytesReportsTheTrimmedMessagesMissed(t *testing.T) {
	// Each a/x message costs 2+3+320 = 325 bytes: two fit in 700.
	h, id := pausedAfter(t, during("a/x", 8), func(c *Config) { c.QueueBytes = 700 })
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverReplay, Credit: 100})
	checkLog(t, effs, 2,
		"info gap missed=6 replay",
		"replay a/x#9 p9", "replay a/x#10 p10", "replay-complete a/x count=2 latest=10")
	info := outsOf(effs, 2)[0].Info
	if !info.GapDetected || info.Missed != 6 {
		t.Fatalf("info %+v, want GapDetected and Missed 6 (8 missed during the pause, 2 replayed)", info)
	}
}
