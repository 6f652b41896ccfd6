package netshell

import (
	"time"

	"github.com/benbjohnson/clock"
)

// deadlineTimer is a clock timer that can be re-armed any number of times
// from one goroutine. It drains a fired value before re-arming, which the
// mock clock needs (its timers send while holding the clock's lock).
type deadlineTimer struct {
	t       *clock.Timer
	stopped bool
}

func newDeadlineTimer(clk clock.Clock) *deadlineTimer {
	t := clk.Timer(time.Hour)
	t.Stop()
	return &deadlineTimer{t: t, stopped: true}
}

func (d *deadlineTimer) c() <-chan time.Time { return d.t.C }

func (d *deadlineTimer) reset(after time.Duration) {
	d.stop()
	d.t.Reset(max(after, 0))
	d.stopped = false
}

func (d *deadlineTimer) stop() {
	if !d.stopped {
		d.t.Stop()
		d.stopped = true
	}
	select {
	case <-d.t.C:
	default:
	}
}
