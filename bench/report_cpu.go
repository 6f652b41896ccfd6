package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// cpuSample is what one throughput run's processes spent a delivered
// message, in ns of CPU: its server processes, and the process of its
// publishers and subscribers (cpu.go); busy is how many cores they kept
// busy together (the rate times both).
type cpuSample struct{ servers, clients, busy float64 }

// CPU rows of results.json: a throughput measurement's id with one of
// these suffixes.
var cpuRows = []struct {
	suffix, unit string
	of           func(cpuSample) float64
}{
	{"-cpu-servers", "ns/msg", func(c cpuSample) float64 { return c.servers }},
	{"-cpu-clients", "ns/msg", func(c cpuSample) float64 { return c.clients }},
	{"-cpu", "ns/msg", func(c cpuSample) float64 { return c.servers + c.clients }},
	{"-cores-busy", "cores", func(c cpuSample) float64 { return c.busy }},
}

// aggregateCPU turns the runs' CPU samples into rows, in the order of the
// measurements: for each, servers, clients and both, each system's
// median, with its ratio to NATS's (lower is better).
func aggregateCPU(order []*measurement, samples map[[2]string][]cpuSample) []*result {
	var out []*result
	for _, m := range order {
		for _, row := range cpuRows {
			out = append(out, summarize(m.id+row.suffix, row.unit, false, func(sys string) []float64 {
				runs := samples[[2]string{m.id, sys}]
				v := make([]float64, len(runs))
				for i, c := range runs {
					v[i] = row.of(c)
				}
				return v
			})...)
		}
	}
	return out
}

// cpuTable renders the CPU rows as a table of their own, one line a
// measurement; "" when there are none.
func cpuTable(rows []*result) string {
	if len(rows) == 0 {
		return ""
	}
	cells := map[[2]string]*result{} // (row id, system)
	var ids []string                 // measurements, in order
	for _, r := range rows {
		cells[[2]string{r.Scenario, r.System}] = r
		if id, ok := strings.CutSuffix(r.Scenario, "-cpu"); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	median := func(row, sys string) string {
		r := cells[[2]string{row, sys}]
		switch {
		case r == nil:
			return "n/a"
		case r.Unit == "cores":
			return fmt.Sprintf("%.2f", r.Median)
		}
		return fmt.Sprintf("%.0f", r.Median)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nCPU time a delivered message in the throughput runs above, in ns: the kernel's count of user and system time of the server processes, and of the one process that runs a run's publishers and subscribers (the clients), from the end of the warm-up to the last delivery, over the messages delivered (a system that lost messages, listed above, spent CPU on those too); medians of the runs (`<scenario>-cpu-servers`, `-cpu-clients` and `-cpu` in `bench/results.json`). Busy: the cores all of them kept busy, the rate times their CPU a message (`-cores-busy`); this host has %d, so a row below that left some idle.\n\n", runtime.NumCPU())
	b.WriteString("| scenario | nexusd servers | nexusd clients | nexusd all | nexusd busy | NATS servers | NATS clients | NATS all | NATS busy | raw gRPC relay all | nexusd / NATS, all |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, id := range ids {
		ratio := "-"
		if r := cells[[2]string{id + "-cpu", "nexusd"}]; r != nil && r.RatioToNATS != nil {
			ratio = fmt.Sprintf("%.2fx", *r.RatioToNATS)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", id,
			median(id+"-cpu-servers", "nexusd"), median(id+"-cpu-clients", "nexusd"), median(id+"-cpu", "nexusd"), median(id+"-cores-busy", "nexusd"),
			median(id+"-cpu-servers", "nats"), median(id+"-cpu-clients", "nats"), median(id+"-cpu", "nats"), median(id+"-cores-busy", "nats"),
			median(id+"-cpu", "grpc-raw"), ratio)
	}
	return b.String()
}
