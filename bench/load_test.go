package main

import (
	"sync/atomic"
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

// TestArrivalsWatcherNotesTheLastMove: the watcher's last arrival is
// after the last message counted, and does not move while the count
// stands still.
func TestArrivalsWatcherNotesTheLastMove(t *testing.T) {
	var received atomic.Int64
	last, stop := watchArrivals(&received)
	defer stop()
	if !last().IsZero() {
		t.Fatalf("last arrival %v before any message", last())
	}
	before := time.Now()
	received.Add(1)
	deadline := before.Add(5 * time.Second)
	for last().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("the watcher never noted the message")
		}
		time.Sleep(arrivalTick)
	}
	noted := last()
	if noted.Before(before) {
		t.Fatalf("last arrival %v, before the message was counted at %v", noted, before)
	}
	time.Sleep(10 * arrivalTick)
	if !last().Equal(noted) {
		t.Fatalf("last arrival moved from %v to %v with no message", noted, last())
	}
}
