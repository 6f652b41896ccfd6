package main

import (
	"bytes"
	"os"
	"os/exec"
	"runtime/trace"
	"strings"
	"testing"
	"time"
)

// A goroutine that sleeps between sends to another: the process is idle
// while it sleeps, and each spell ends for it, woken where it slept. The
// trace is taken in a process of its own (this test binary run again),
// so that no goroutine another test left behind keeps it busy.
func TestIdleNamesWhatTheProcessWokeFor(t *testing.T) {
	if os.Getenv("NEXUSD_BENCH_IDLE_CHILD") != "" {
		traceSleeper(t, os.NewFile(3, "trace"))
		return
	}
	tr, err := os.CreateTemp(t.TempDir(), "trace")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleNamesWhatTheProcessWokeFor$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NEXUSD_BENCH_IDLE_CHILD=1")
	cmd.ExtraFiles = []*os.File{tr} // fd 3 in the child
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the traced child: %v\n%s", err, out)
	}
	if _, err := tr.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	rep, err := idleOf(tr)
	if err != nil {
		t.Fatal(err)
	}
	if rep.idle <= 0 || rep.idle > rep.span || len(rep.spells) == 0 {
		t.Fatalf("report %+v", rep)
	}
	// The sleeps are nearly all of the idle time: a wake named after
	// the spell (the receiver the woken sender readies) would take it.
	if top := rep.spells[0]; !strings.Contains(top.site, "traceSleeper") || top.n < 10 || top.total < 0.9*rep.idle {
		t.Fatalf("most idle time ended for %q (%d spells, %.0f of %.0f µs), want the sleeping goroutine, at least 10 times and 90%% of the time:\n%s", top.site, top.n, top.total, rep.idle, rep)
	}
	t.Log("\n" + rep.String())
	if _, err := idleOf(strings.NewReader("not a trace")); err == nil {
		t.Fatal("idle of no trace: no error")
	}
}

// traceSleeper writes to w a trace of a goroutine that sleeps between
// sends to another.
func traceSleeper(t *testing.T, w *os.File) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
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
	if _, err := w.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}
