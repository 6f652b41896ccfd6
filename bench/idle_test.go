package main

import (
	"bytes"
	"runtime/trace"
	"strings"
	"testing"
	"time"
)

// A goroutine that sleeps between sends to another: the process is idle
// while it sleeps, and each spell ends for it, woken where it slept.
func TestIdleNamesWhatTheProcessWokeFor(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skip("tracing is on already:", err)
	}
	ch := make(chan int)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	for i := range 20 {
		time.Sleep(200 * time.Microsecond)
		ch <- i
	}
	close(ch)
	<-done
	trace.Stop()
	rep, err := idleOf(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if rep.idle <= 0 || rep.idle > rep.span || len(rep.spells) == 0 {
		t.Fatalf("report %+v", rep)
	}
	if top := rep.spells[0]; !strings.Contains(top.site, "TestIdleNamesWhatTheProcessWokeFor") || top.n < 10 {
		t.Fatalf("most idle time ended for %q (%d spells), want the sleeping test goroutine, at least 10 times:\n%s", top.site, top.n, rep)
	}
	t.Log("\n" + rep.String())
	if _, err := idleOf(strings.NewReader("not a trace")); err == nil {
		t.Fatal("idle of no trace: no error")
	}
}
