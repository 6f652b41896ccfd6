package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/exp/trace"
)

// The residence of a message in a daemon at a low rate, read from a Go
// execution trace of the daemon (its /debug/pprof/trace, taken during
// latency-10k-packed: scripts/residence.sh, make bench-residence). At
// 10k msg/s the daemon is idle between messages, so its work comes in
// bursts separated by quiet; a burst that ends with a write by gRPC's
// loopy writer is a message (or the few that came together) from the
// read that woke the daemon to the write that hands it on. Its steps,
// the goroutines readied and the system calls, show where the time goes.

// residenceQuiet separates bursts: no event in the daemon for this long.
const residenceQuiet = 20_000 // ns

// residenceStep is one goroutine state change in a burst: when, after the
// burst's first event, and what (from and to, and the function of the
// project or of gRPC the goroutine's stack is in).
type residenceStep struct {
	at   float64 // µs
	what string
}

// residenceReport is what residence found in one trace.
type residenceReport struct {
	sequences map[string][][]float64 // each sequence of steps, and the offsets of each burst that took it
	bursts    []residenceBurst       // every message burst, in the trace's order
}

// durations are the bursts' times, from the first event to the write's
// end, in µs, sorted.
func (r *residenceReport) durations() []float64 {
	d := make([]float64, len(r.bursts))
	for i, b := range r.bursts {
		d[i] = b.took
	}
	slices.Sort(d)
	return d
}

// residenceBurst is one message burst: how long it took, and its longest
// wait between two steps (from the step before it).
type residenceBurst struct {
	took    float64 // µs
	longest float64 // µs
	between string  // the two steps, "a -> b"
}

func residenceCmd(args []string) int {
	return traceCmd("residence", "a daemon's /debug/pprof/trace, taken under latency-10k-packed", args,
		func(r io.Reader) (fmt.Stringer, error) { return residence(r) })
}

// traceCmd runs a subcommand that reads one trace file and prints what
// read makes of it.
func traceCmd(name, what string, args []string, read func(io.Reader) (fmt.Stringer, error)) int {
	if len(args) != 1 {
		fmt.Fprintf(os.Stderr, "usage: nexusd-bench %s TRACE (%s)\n", name, what)
		return 2
	}
	f, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "nexusd-bench %s: %v\n", name, err)
		return 1
	}
	defer f.Close()
	rep, err := read(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nexusd-bench %s: %v\n", name, err)
		return 1
	}
	fmt.Print(rep.String())
	return 0
}

// residence reads a trace and measures its message bursts.
func residence(r io.Reader) (*residenceReport, error) {
	rep := &residenceReport{sequences: map[string][][]float64{}}
	var start, last trace.Time
	begun, ended := false, false
	var steps []residenceStep
	writing := map[trace.GoID]bool{} // in a write system call of the loopy writer
	err := eachEvent(r, func(ev trace.Event) {
		if ev.Kind() != trace.EventStateTransition {
			return
		}
		t := ev.Time()
		if !begun || t-last > residenceQuiet {
			begun, ended, start, steps = true, false, t, steps[:0]
			// A write that began before the quiet ends no burst of this
			// one: its burst would be the write's return alone.
			clear(writing)
		}
		last = t
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			return
		}
		from, to := st.Goroutine()
		g := st.Resource.Goroutine()
		fn, loopyWrite := stackOf(ev)
		if to == trace.GoSyscall {
			writing[g] = loopyWrite
		}
		if ended {
			return
		}
		at := float64(t-start) / 1000
		steps = append(steps, residenceStep{at, fmt.Sprintf("%v > %v %s", from, to, fn)})
		if from == trace.GoSyscall && writing[g] {
			ended, writing[g] = true, false
			whats, offsets := make([]string, len(steps)), make([]float64, len(steps))
			for i, s := range steps {
				whats[i], offsets[i] = s.what, s.at
			}
			key := strings.Join(whats, "\n")
			rep.sequences[key] = append(rep.sequences[key], offsets)
			b := residenceBurst{took: at}
			for i := 1; i < len(steps); i++ {
				if gap := steps[i].at - steps[i-1].at; gap > b.longest {
					b.longest, b.between = gap, steps[i-1].what+"  ->  "+steps[i].what
				}
			}
			rep.bursts = append(rep.bursts, b)
		}
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// eachEvent reads a trace and hands f each of its events, in order.
func eachEvent(r io.Reader, f func(trace.Event)) error {
	tr, err := trace.NewReader(r)
	if err != nil {
		return err
	}
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		f(ev)
	}
}

// stackOf names the innermost function of the project or of gRPC (or the
// system call) on ev's stack, and says whether it is a write by gRPC's
// loopy writer.
func stackOf(ev trace.Event) (fn string, loopyWrite bool) {
	var loopy, write bool
	for fr := range ev.Stack().Frames() {
		name := fr.Func
		if fn == "" && (strings.Contains(name, "nexusd") || strings.Contains(name, "grpc") || strings.HasPrefix(name, "syscall.") || strings.HasPrefix(name, "internal/poll.")) {
			fn = name[strings.LastIndex(name, "/")+1:]
		}
		loopy = loopy || strings.Contains(name, "loopyWriter")
		write = write || name == "syscall.write"
	}
	return fn, loopy && write
}

func (r *residenceReport) String() string {
	var b strings.Builder
	durations := r.durations()
	n := len(durations)
	if n == 0 {
		return "no burst of the daemon ended with a write by gRPC's loopy writer: was the trace taken under latency-10k-packed?\n"
	}
	q := func(p float64) float64 { return durations[min(n-1, int(p*float64(n)))] }
	fmt.Fprintf(&b, "%d message bursts; µs from the first event to the end of the write: p50 %.1f, p90 %.1f, p99 %.1f\n", n, q(0.5), q(0.9), q(0.99))
	keys := make([]string, 0, len(r.sequences))
	for k := range r.sequences {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { // the commonest first; ties by name, so the report is the same each time
		return cmp.Or(len(r.sequences[b])-len(r.sequences[a]), strings.Compare(a, b))
	})
	k := keys[0]
	runs := r.sequences[k]
	fmt.Fprintf(&b, "\nthe commonest sequence of steps, %d of the %d bursts; median µs after the first event:\n", len(runs), n)
	for i, what := range strings.Split(k, "\n") {
		at := make([]float64, len(runs))
		for j := range runs {
			at[j] = runs[j][i]
		}
		slices.Sort(at)
		fmt.Fprintf(&b, "%8.1f  %s\n", at[len(at)/2], what)
	}
	// The slowest tenth: which wait was the longest in each.
	p90 := q(0.9)
	tally := map[string][2]float64{} // between -> count, total µs
	slow := 0
	for _, bu := range r.bursts {
		if bu.took > p90 {
			slow++
			t := tally[bu.between]
			tally[bu.between] = [2]float64{t[0] + 1, t[1] + bu.longest}
		}
	}
	if slow > 0 {
		ks := make([]string, 0, len(tally))
		for k := range tally {
			ks = append(ks, k)
		}
		slices.SortFunc(ks, func(a, b string) int { return cmp.Or(cmp.Compare(tally[b][0], tally[a][0]), strings.Compare(a, b)) })
		fmt.Fprintf(&b, "\nthe %d bursts slower than the p90: their longest wait, between\n", slow)
		for _, k := range ks[:min(6, len(ks))] {
			fmt.Fprintf(&b, "%6.0f bursts (mean %5.1f µs)  %s\n", tally[k][0], tally[k][1]/tally[k][0], k)
		}
	}
	return b.String()
}
