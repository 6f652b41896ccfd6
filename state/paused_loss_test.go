package state

import (
	"testing"
	"time"
)

// Mesh loss declared while a subscription is paused is not warned of to
// it as message_lost: the numbers the loss skipped are in the topic's
// numbering, so its resume already counts them in subscription_info's
// missed count. Warning as well would report the same messages twice.
func TestLossWhileASubscriptionIsPausedIsReportedOnceByItsResume(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2")
	id := h.subscribe(1, 1000, "t")
	checkLog(t, h.pushSeqs(1, 2), 1, "msg t#1 m1", "msg t#2 m2")
	if done := h.pause(id); done.Err != nil {
		t.Fatalf("pause: %v", done.Err)
	}
	h.pushSeqs(5)
	req := only[*RequestResend](t, h.advance(50*time.Millisecond))
	h.step(&ResendCompleted{Call: req.Call, Reply: &ResendReply{Instance: "n2", FirstAvailable: 10}})
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"t": 2}, Mode: RecoverReplay, Credit: 100})
	checkLog(t, effs, 2,
		"info gap missed=2 replay",
		"replay t#5 m5", "replay-complete t count=1 latest=5")
}
