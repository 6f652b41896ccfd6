package main

import (
	"testing"
	"time"
)

func TestALatencyCountsFromWhenThePublisherCouldSend(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(us int) time.Time { return start.Add(time.Duration(us) * time.Microsecond) }
	for _, c := range []struct {
		name            string
		due, woke, want time.Time
	}{
		{"overslept: due before the wake counts from the wake", at(100), at(900), at(900)},
		{"due after the wake (the publish before it blocked): from when it was due", at(1200), at(900), at(1200)},
		{"never slept", at(100), time.Time{}, at(100)},
		{"woke exactly when due", at(500), at(500), at(500)},
	} {
		if got := sentFrom(c.due, c.woke); !got.Equal(c.want) {
			t.Errorf("%s: counts from %v, want %v", c.name, got.Sub(start), c.want.Sub(start))
		}
	}
}
