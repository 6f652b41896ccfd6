package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	rtrace "runtime/trace"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// What a process waits for, read from a Go execution trace of it: the
// spells in which none of its goroutines runs or is in a system call, and
// for each spell the goroutine the process woke up for, named by where it
// had blocked (the first one readied after the spell that was not a
// connection's reader, which only passes data on). A pipeline of
// processes (publisher, daemon, subscriber) goes only as fast as the one
// the others keep waiting for: the one that seldom waits.

// idleSpell sums the spells that ended for one wait site.
type idleSpell struct {
	site  string
	n     int
	total float64 // µs
}

type idleReport struct {
	span, idle float64 // µs: the trace, and the spells in it
	spells     []idleSpell
}

func idleCmd(args []string) int {
	return traceCmd("idle", "a Go execution trace of a daemon or of measure --trace", args,
		func(r io.Reader) (fmt.Stringer, error) { return idleOf(r) })
}

func idleOf(r io.Reader) (*idleReport, error) {
	var first, last, from trace.Time
	busy := map[trace.GoID]bool{}     // running or in a system call
	site := map[trace.GoID]string{}   // where each goroutine last blocked
	bySite := map[string]*idleSpell{} // spells by what ended them
	var open bool                     // in a spell
	ended := -1.0                     // the last spell's length, until it is attributed; -1: none
	rep := &idleReport{}
	attribute := func(s string) {
		sp := bySite[s]
		if sp == nil {
			sp = &idleSpell{site: s}
			bySite[s] = sp
		}
		sp.n++
		sp.total += ended
		ended = -1
	}
	err := eachEvent(r, func(ev trace.Event) {
		t := ev.Time()
		if first == 0 {
			first = t
		}
		last = t
		if ev.Kind() != trace.EventStateTransition {
			return
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			return
		}
		g := st.Resource.Goroutine()
		was, to := st.Goroutine()
		if to == trace.GoWaiting {
			site[g] = waitSite(ev)
		}
		if ended >= 0 && was == trace.GoWaiting && to == trace.GoRunnable {
			if s := site[g]; s == "" {
				attribute("(a goroutine blocked before the trace began)")
			} else if !connReader(s) {
				attribute(s)
			}
		}
		if to == trace.GoRunning || to == trace.GoSyscall {
			busy[g] = true
		} else {
			delete(busy, g)
		}
		switch {
		case !open && len(busy) == 0 && (was == trace.GoRunning || was == trace.GoSyscall):
			open, from = true, t
		case open && len(busy) > 0:
			open = false
			if ended >= 0 { // the one before found no goroutine to name
				attribute("(none named)")
			}
			ended = float64(t-from) / 1000
			rep.idle += ended
		}
	})
	if err != nil {
		return nil, err
	}
	if ended >= 0 {
		attribute("(none named)")
	}
	rep.span = float64(last-first) / 1000
	for _, sp := range bySite {
		rep.spells = append(rep.spells, *sp)
	}
	slices.SortFunc(rep.spells, func(a, b idleSpell) int {
		if c := cmp.Compare(b.total, a.total); c != 0 {
			return c
		}
		return strings.Compare(a.site, b.site)
	})
	return rep, nil
}

// waitSite names where a goroutine blocks: the innermost function of the
// program or the project on its stack (the stream a gRPC call waits on is
// named by its caller), else of gRPC.
func waitSite(ev trace.Event) string {
	inner := ""
	for fr := range ev.Stack().Frames() {
		name := fr.Func
		short := name[strings.LastIndex(name, "/")+1:]
		if strings.HasPrefix(name, "main.") || strings.Contains(name, "nexusd") {
			return short
		}
		if inner == "" && strings.Contains(name, "grpc") {
			inner = short
		}
	}
	return inner
}

// connReader reports whether a wait site is a connection's reader waiting
// for bytes: it wakes first after a spell and hands on to the goroutine
// the bytes are for.
func connReader(site string) bool {
	return strings.Contains(site, "readyreader") || strings.Contains(site, "framer") ||
		strings.Contains(site, "HandleStreams") || strings.Contains(site, "(*http2Client).reader")
}

func (r *idleReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%.0f ms traced; no goroutine running or in a system call for %.1f ms (%.0f%%)\n", r.span/1000, r.idle/1000, 100*r.idle/max(r.span, 1))
	for _, sp := range r.spells {
		fmt.Fprintf(&b, "%9.1f ms in %6d spells (mean %6.1f µs), woken for %s\n", sp.total/1000, sp.n, sp.total/float64(sp.n), sp.site)
	}
	return b.String()
}

// traceOut, when set (measure --trace), is where a throughput run writes a
// Go execution trace of this process, the load generators', for a second
// from a third of the way into its publishing: for nexusd-bench idle.
var traceOut string

// traceLoad starts that trace, if asked for, and returns a function that
// waits for it to be written.
func traceLoad(dur time.Duration) (wait func()) {
	if traceOut == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(dur / 3)
		f, err := os.Create(traceOut)
		if err == nil {
			if err = rtrace.Start(f); err == nil {
				time.Sleep(time.Second)
				rtrace.Stop()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "nexusd-bench: --trace:", err)
		}
	}()
	return func() { <-done }
}
