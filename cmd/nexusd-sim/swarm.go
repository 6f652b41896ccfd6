package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nexusd/nexusd/internal/cpuprof"
	"github.com/nexusd/nexusd/sim"
)

func swarm(args []string) int {
	fs := flag.NewFlagSet("swarm", flag.ContinueOnError)
	nodes := fs.Int("nodes", 50, "number of nodes (1 to 4096)")
	seed := fs.Uint64("seed", 1, "root seed: derives every random choice")
	duration := fs.Duration("duration", 30*time.Second, "virtual time of the safety phase (faults on)")
	faults := fs.String("faults", "default", "fault plan: none, default, heavy, or key=value,...")
	topics := fs.Int("topics", 8, "distinct topics published to")
	rate := fs.Float64("rate", 50, "publishes per second over the whole mesh")
	intruders := fs.Int("intruders", 0, "run the mesh with a cluster key and add this many nodes without it (half with another key): they must never join it")
	groups := fs.Int("groups", 0, "add this many queue groups of three members each, and check that every message reached exactly one member")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	scenario := fs.String("write-scenario", "", "write the run as a scenario script to this file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	traceFile := fs.String("trace", "", "write every event and effect of every node to this file, one line each")
	invariants := fs.String("invariants", "paced", "how often nodes check their own invariants: paced (bounds every step, the full walk now and then), every-step (the full walk after every step: slow) or off (to measure what they cost)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	plan, err := sim.ParseFaults(*faults)
	if err != nil {
		fmt.Fprintln(stderr, "nexusd-sim: --faults:", err)
		return 2
	}
	checks, err := sim.ParseChecks(*invariants)
	if err != nil {
		fmt.Fprintln(stderr, "nexusd-sim: --invariants:", err)
		return 2
	}
	if *nodes < 1 || *nodes > 4096 {
		fmt.Fprintf(stderr, "nexusd-sim: --nodes %d: want 1 to 4096\n", *nodes)
		return 2
	}
	if *intruders < 0 || *nodes+*intruders > 4096 {
		fmt.Fprintf(stderr, "nexusd-sim: --intruders %d: want 0 or more, with --nodes at most 4096 in all\n", *intruders)
		return 2
	}
	if *groups < 0 || *groups > 1000 {
		fmt.Fprintf(stderr, "nexusd-sim: --groups %d: want 0 to 1000\n", *groups)
		return 2
	}
	if *duration <= 0 || *topics < 1 || *rate <= 0 {
		fmt.Fprintln(stderr, "nexusd-sim: --duration, --topics and --rate must be positive")
		return 2
	}
	if *cpuProfile != "" {
		stop, err := cpuprof.Start(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "nexusd-sim: --cpuprofile:", err)
			return 2
		}
		defer stop()
	}
	var trace func(string)
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			fmt.Fprintln(stderr, "nexusd-sim: --trace:", err)
			return 2
		}
		buf := bufio.NewWriter(f)
		defer func() { buf.Flush(); f.Close() }()
		trace = func(line string) { buf.WriteString(line); buf.WriteByte('\n') }
	}
	sum, err := sim.Swarm(sim.SwarmOptions{
		Nodes: *nodes, Seed: *seed, Duration: *duration, Faults: plan, FaultsText: *faults, Intruders: *intruders,
		Topics: *topics, Rate: *rate, Record: *scenario != "", Trace: trace, Invariants: checks, Groups: *groups,
	}, time.Now)
	if err != nil {
		fmt.Fprintln(stderr, "nexusd-sim:", err)
		return 2
	}
	if *scenario != "" {
		if err := os.WriteFile(*scenario, []byte(scenarioHeader(sum)+sum.Script), 0o644); err != nil {
			fmt.Fprintln(stderr, "nexusd-sim: --write-scenario:", err)
			return 2
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(jsonSummary(sum))
	} else {
		printSummary(stdout, sum)
	}
	if sum.Failure != "" {
		fmt.Fprintf(stderr, "FAIL: %s\nreplay: %s\n", sum.Failure, sum.Replay)
		return 1
	}
	return 0
}

func scenarioHeader(s *sim.Summary) string {
	h := fmt.Sprintf("# Recorded by: %s\n", s.Replay)
	if s.Failure != "" {
		h += fmt.Sprintf("# It failed: %s\n", s.Failure)
	}
	return h
}

func printSummary(w io.Writer, s *sim.Summary) {
	fmt.Fprintf(w, "nodes             %d\n", s.Nodes)
	fmt.Fprintf(w, "seed              %d\n", s.Seed)
	fmt.Fprintf(w, "faults            %s\n", s.Faults)
	fmt.Fprintf(w, "virtual time      %s\n", s.VirtualTime.Round(time.Millisecond))
	fmt.Fprintf(w, "wall time         %s\n", s.WallTime.Round(time.Millisecond))
	fmt.Fprintf(w, "events            %d\n", s.Events)
	fmt.Fprintf(w, "messages          %d published, %d deliveries (%d in runs), %d dropped, %d expired\n", s.Published, s.Delivered, s.InRuns, s.Dropped, s.Expired)
	fmt.Fprintf(w, "mesh repair       %d repaired, %d declared lost\n", s.Repaired, s.Gaps)
	fmt.Fprintf(w, "violations        %d silent losses, %d needless losses, %d phantom losses, %d duplicates, %d out of order\n",
		s.SilentLosses, s.NeedlessLosses, s.PhantomLosses, s.Duplicates, s.OrderViolations)
	fmt.Fprintf(w, "faults injected   %d crashes, %d leaves, %d partitions, %d pauses, %d packets lost\n", s.Crashes, s.Leaves, s.Partitions, s.Pauses, s.LostPackets)
	fmt.Fprintf(w, "converged         %s after the last change (%d fetches), %s after heal\n",
		s.ConvergeAfterChange, s.FetchesPerChange, s.ConvergeAfterHeal)
	fmt.Fprintf(w, "trace_hash        %016x\n", s.TraceHash)
	if s.Failure == "" {
		fmt.Fprintln(w, "result            ok")
	} else {
		fmt.Fprintf(w, "result            FAIL: %s\n", s.Failure)
	}
}

// jsonSummary is the summary for machines: durations in milliseconds.
func jsonSummary(s *sim.Summary) map[string]any {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return map[string]any{
		"nodes": s.Nodes, "seed": s.Seed, "faults": s.Faults,
		"virtual_time_ms": ms(s.VirtualTime), "wall_time_ms": ms(s.WallTime), "events": s.Events,
		"messages_published": s.Published, "deliveries": s.Delivered, "deliveries_in_runs": s.InRuns, "drops": s.Dropped, "expired": s.Expired,
		"repaired": s.Repaired, "gap_messages": s.Gaps,
		"silent_losses": s.SilentLosses, "needless_losses": s.NeedlessLosses, "phantom_losses": s.PhantomLosses,
		"duplicates": s.Duplicates, "order_violations": s.OrderViolations,
		"crashes": s.Crashes, "leaves": s.Leaves, "partitions": s.Partitions, "pauses": s.Pauses, "lost_packets": s.LostPackets,
		"convergence_after_change_ms": ms(s.ConvergeAfterChange), "fetches_per_change": s.FetchesPerChange,
		"convergence_after_heal_ms": ms(s.ConvergeAfterHeal),
		"trace_hash":                fmt.Sprintf("%016x", s.TraceHash), "ok": s.Failure == "", "failure": s.Failure, "replay": s.Replay,
	}
}
