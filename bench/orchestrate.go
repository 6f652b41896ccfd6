package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
)

var systems = []string{"nexusd", "nats", "grpc-raw"}

// result is one row of results.json.
type result struct {
	Scenario    string   `json:"scenario"`
	System      string   `json:"system"`
	Unit        string   `json:"unit"`
	Median      float64  `json:"median"`
	Min         float64  `json:"min"`
	Max         float64  `json:"max"`
	RatioToNATS *float64 `json:"ratio_to_nats"`
	runs        int
	higher      bool
}

func orchestrate(args []string) int {
	fs := flag.NewFlagSet("nexusd-bench", flag.ContinueOnError)
	full := fs.Bool("full", false, "every measurement, longer runs (make bench-full)")
	runs := fs.Int("runs", 3, "runs per measurement and system; the median is reported")
	bin := fs.String("nexusd", "../bin/nexusd", "the nexusd binary to measure")
	jsonOut := fs.String("json", "results.json", "where to write the results; \"\": nowhere")
	mdOut := fs.String("markdown", "../BENCHMARKS.md", "file whose generated section to replace; \"\": none")
	only := fs.String("only", "", "run only measurements whose id matches this regexp")
	systemList := fs.String("systems", strings.Join(systems, ","), "systems to measure, comma-separated (also nexusd-tls: nexusd with a cluster key, for cross-node measurements; nexusd-bypass: the --nexusd binary's name with -bypass appended, built with the nexusd_bypass tag, make bench-bypass; nexusd-bypass-hop: the same build passing each frame through one goroutine more)")
	runtimeFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := serverRuntime.check(); err != nil {
		fmt.Fprintln(os.Stderr, "nexusd-bench:", err)
		return 2
	}
	if _, err := os.Stat(*bin); err != nil {
		fmt.Fprintf(os.Stderr, "nexusd-bench: --nexusd %s: %v (build it with make bin/nexusd)\n", *bin, err)
		return 2
	}
	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			fmt.Fprintln(os.Stderr, "nexusd-bench: --only:", err)
			return 2
		}
	}
	systems = strings.Split(*systemList, ",")
	dur := 1500 * time.Millisecond
	if *full {
		dur = 5 * time.Second
	}
	fmt.Fprintf(os.Stderr, "nexusd-bench: every server process runs with %s\n", serverRuntime)
	began := time.Now()
	samples := map[[2]string][]float64{} // (row, system) -> values
	losses := map[[2]string][]float64{}  // (measurement, system) -> share lost, per throughput run
	cpu := map[[2]string][]cpuSample{}   // (measurement, system) -> CPU a delivered message, per throughput run
	var order []*measurement
	failed := 0
	for _, m := range measurements {
		if (!*full && !m.quick) || (filter != nil && !filter.MatchString(m.id)) {
			continue
		}
		order = append(order, m)
		for r := range *runs {
			for k := range systems {
				sys := systems[(k+r)%len(systems)] // take turns going first
				values, skip, note, lost, c, err := measureChild(m.id, sys, *bin, dur)
				switch {
				case skip:
				case err != nil:
					failed++
					fmt.Fprintf(os.Stderr, "%s/%s run %d: %v\n", m.id, sys, r+1, err)
				default:
					for suffix, v := range values {
						k := [2]string{m.id + suffix, sys}
						samples[k] = append(samples[k], v)
					}
					if lost >= 0 {
						losses[[2]string{m.id, sys}] = append(losses[[2]string{m.id, sys}], lost)
					}
					if c != nil {
						cpu[[2]string{m.id, sys}] = append(cpu[[2]string{m.id, sys}], *c)
					}
					fmt.Fprintf(os.Stderr, "%-28s %-9s run %d: %s%s\n", m.id, sys, r+1, brief(values, m.unit), note)
				}
			}
		}
	}
	results := aggregate(order, samples)
	cpuResults := aggregateCPU(order, cpu)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, append(slices.Clip(results), cpuResults...)); err != nil {
			fmt.Fprintln(os.Stderr, "nexusd-bench:", err)
			return 1
		}
	}
	cmd := "make bench"
	if *full {
		cmd = "make bench-full"
	}
	if *mdOut != "" {
		if err := writeMarkdown(*mdOut, results, cpuResults, losses, cmd, *runs, dur, time.Since(began)); err != nil {
			fmt.Fprintln(os.Stderr, "nexusd-bench:", err)
			return 1
		}
	}
	printVariantRatios(results)
	var written []string
	for _, f := range []string{*jsonOut, *mdOut} {
		if f != "" {
			written = append(written, f)
		}
	}
	where := "written nowhere"
	if len(written) > 0 {
		where = "written to " + strings.Join(written, " and ")
	}
	fmt.Fprintf(os.Stderr, "nexusd-bench: %d rows in %s, %s\n", len(results), time.Since(began).Round(time.Second), where)
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "nexusd-bench: %d runs failed\n", failed)
		return 1
	}
	return 0
}

// printVariantRatios prints, for every row measured with nexusd and a
// variant of it (nexusd-tls, nexusd-bypass, nexusd-bypass-hop), the variant's median over
// nexusd's, and both over NATS's when it ran too.
func printVariantRatios(results []*result) {
	plain := map[string]*result{}
	for _, r := range results {
		if r.System == "nexusd" {
			plain[r.Scenario] = r
		}
	}
	for _, r := range results {
		p := plain[r.Scenario]
		if p == nil || p.Median == 0 || !strings.HasPrefix(r.System, "nexusd-") {
			continue
		}
		fmt.Fprintf(os.Stderr, "%s: %s %s [%s, %s] / nexusd %s [%s, %s] = %.2fx", r.Scenario, r.System,
			format(r.Median, r.Unit), format(r.Min, r.Unit), format(r.Max, r.Unit),
			format(p.Median, p.Unit), format(p.Min, p.Unit), format(p.Max, p.Unit), r.Median/p.Median)
		if r.RatioToNATS != nil && p.RatioToNATS != nil {
			fmt.Fprintf(os.Stderr, "; to NATS %.2fx and %.2fx", *r.RatioToNATS, *p.RatioToNATS)
		}
		fmt.Fprintln(os.Stderr)
	}
}

// measureChild runs one measurement in a fresh process. note says, for a
// throughput run that lost messages, how many arrived; lost is the share
// of a throughput run's messages that did not (-1: not a throughput run);
// cpu is what a throughput run's processes spent a delivered message
// (nil: not a throughput run, or not read).
func measureChild(id, sys, bin string, dur time.Duration) (values map[string]float64, skip bool, note string, lost float64, cpu *cpuSample, err error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(selfPath(), append([]string{"measure", "--id", id, "--system", sys, "--nexusd", bin, "--dur", dur.String()}, runtimeArgs()...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, false, "", -1, nil, fmt.Errorf("%v: %s", err, errb.String())
	}
	var res struct {
		Values     map[string]float64 `json:"values"`
		Skip       bool               `json:"skip"`
		Error      string             `json:"error"`
		Expected   int64              `json:"expected"`
		Delivered  int64              `json:"delivered"`
		CPUServers *float64           `json:"cpu_servers_ns"`
		CPUClients *float64           `json:"cpu_clients_ns"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, false, "", -1, nil, fmt.Errorf("bad output %q: %v", out.String(), err)
	}
	if res.Error != "" {
		return nil, false, "", -1, nil, fmt.Errorf("%s", res.Error)
	}
	if res.CPUServers != nil && res.CPUClients != nil {
		cpu = &cpuSample{servers: *res.CPUServers, clients: *res.CPUClients}
		cpu.busy = res.Values[""] * (cpu.servers + cpu.clients) / 1e9 // a throughput run's rate, a second
	}
	lost = -1
	if res.Expected > 0 { // a warm-up message may arrive on top: that is none lost
		lost = max(0, float64(res.Expected-res.Delivered)/float64(res.Expected))
	}
	if res.Delivered < res.Expected {
		note = fmt.Sprintf("  (delivered %d of %d, %.1f%% lost)", res.Delivered, res.Expected, 100*lost)
	}
	if cpu != nil {
		note += fmt.Sprintf("  cpu ns/msg: servers %.0f, clients %.0f", cpu.servers, cpu.clients)
	}
	return res.Values, res.Skip, note, lost, cpu, nil
}

func brief(values map[string]float64, unit string) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, strings.TrimPrefix(k+" ", "-")+format(values[k], unit))
	}
	return strings.TrimSpace(strings.Join(parts, "  "))
}

func aggregate(order []*measurement, samples map[[2]string][]float64) []*result {
	var out []*result
	for _, m := range order {
		for _, row := range m.rowIDs() {
			out = append(out, summarize(row, m.unit, m.higher, func(sys string) []float64 { return samples[[2]string{row, sys}] })...)
		}
	}
	return out
}

// summarize makes one row's results, one a system, from the values of
// its runs (sorted in place): median, minimum and maximum, and the ratio
// of each median to NATS's.
func summarize(row, unit string, higher bool, values func(sys string) []float64) []*result {
	var nats *result
	var rows []*result
	for _, sys := range systems {
		v := values(sys)
		if len(v) == 0 {
			continue
		}
		slices.Sort(v)
		r := &result{Scenario: row, System: sys, Unit: unit, Median: v[len(v)/2], Min: v[0], Max: v[len(v)-1], runs: len(v), higher: higher}
		if sys == "nats" {
			nats = r
		}
		rows = append(rows, r)
	}
	for _, r := range rows {
		if nats != nil && nats.Median != 0 {
			ratio := r.Median / nats.Median
			r.RatioToNATS = &ratio
		}
	}
	return rows
}

func writeJSON(path string, results []*result) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
