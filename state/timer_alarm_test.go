package state

import (
	"testing"
	"time"
)

// Timers (timer.go): an alarm moved later, however little, does not fire
// at its old time; one that fired is no longer wanted.

// After a stream's source was asked to vouch for a number (its repair
// alarm fired to ask) and the number was refused, a later hole on that
// stream is still asked for after RepairDelay: the alarm that fired is
// not left looking armed.
func TestAHoleAfterARefusedNumberIsStillRepaired(t *testing.T) {
	h := repairHarness(t)
	checkLog(t, h.pushSeqs(1), 1, "msg t#1 m1")
	h.pushHuge(1)
	checkLog(t, h.vouchAnswer(t, h.advance(0), 1), 1)
	checkLog(t, h.pushSeqs(3), 1) // #2 is lost
	req := only[*RequestResend](t, h.advance(h.n.cfg.RepairDelay))
	if req.From != 2 || req.To != 2 {
		t.Fatalf("asked %s, want the hole #2", resendLine(req))
	}
}

// postponedHeartbeat opens a subscription 7ns after start and has a
// message reach it 1ns later, and returns when its heartbeat was first
// due (start+7ns+HeartbeatInterval): it is now due 1ns after that.
func postponedHeartbeat(t *testing.T) (*harness, time.Duration) {
	h := newHarness(t, "n1")
	h.start()
	h.setMono(h.now.Mono + 7*time.Nanosecond)
	h.subscribe(1, 100, "t")
	old := h.now.Mono + h.n.cfg.HeartbeatInterval
	h.setMono(h.now.Mono + time.Nanosecond)
	if got := payloads(h.publish("t", "x"), 1); len(got) != 1 {
		t.Fatalf("the message reached the stream %d times", len(got))
	}
	return h, old
}

// A Tick at the time a heartbeat was first due, before the activity that
// postponed it by one nanosecond, sends no heartbeat; one at the new time
// does.
func TestATickAtAHeartbeatsOldTimeSendsNoHeartbeat(t *testing.T) {
	h, old := postponedHeartbeat(t)
	h.setMono(old)
	if got := streamLog(h.keep(h.n.Tick(h.now)), 1); len(got) != 0 {
		t.Fatalf("at the old time the stream got %v", got)
	}
	h.setMono(old + time.Nanosecond)
	checkLog(t, h.keep(h.n.Tick(h.now)), 1, "heartbeat")
}

// NextDeadline never names the time a heartbeat was first due once it
// moved later: the node needs no Tick then.
func TestNextDeadlineSkipsATimeAnAlarmMovedAwayFrom(t *testing.T) {
	h, old := postponedHeartbeat(t)
	for {
		next := h.n.NextDeadline()
		if next == old {
			t.Fatalf("NextDeadline named %v, the heartbeat's old time", next)
		}
		if next > old {
			break
		}
		h.setMono(next)
		h.keep(h.n.Tick(h.now))
	}
}
