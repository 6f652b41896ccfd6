package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestStatCPUAddsUserAndSystemTimeAfterTheCommandName(t *testing.T) {
	// A command name with a space and a ')' of its own; utime 250 and
	// stime 37 ticks (fields 14 and 15).
	line := "4242 (nexusd x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 37 0 0 20 0 9 0 100 1000 300\n"
	got, err := statCPU([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2870 * time.Millisecond; got != want {
		t.Fatalf("statCPU = %v, want %v", got, want)
	}
	for _, bad := range []string{"4242 nexusd S 1", "4242 (nexusd) S 1 2 3", "4242 (nexusd) S 1 4242 4242 0 -1 4194560 1200 0 0 0 x 37 0"} {
		if _, err := statCPU([]byte(bad)); err == nil {
			t.Errorf("statCPU(%q): no error", bad)
		}
	}
}

func TestCPUNowReadsServersAndThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	before, err := cpuNow([]int{os.Getpid()}) // this process as a server too
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := cpuNow([]int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if after.clients <= before.clients {
		t.Fatalf("this process's CPU did not move across 50 ms of spinning: %v then %v", before.clients, after.clients)
	}
	if after.servers < before.servers {
		t.Fatalf("a server's CPU went backwards: %v then %v", before.servers, after.servers)
	}
	if _, err := cpuNow([]int{1 << 30}); err == nil {
		t.Fatal("cpuNow of a process that does not exist: no error")
	}
}

func TestCPURowsAreMediansWithTheirRatioToNATS(t *testing.T) {
	m := &measurement{id: "x"}
	samples := map[[2]string][]cpuSample{
		{"x", "nexusd"}: {{servers: 100, clients: 50, busy: 1.5}, {servers: 300, clients: 10, busy: 1.9}, {servers: 200, clients: 40, busy: 1.7}},
		{"x", "nats"}:   {{servers: 500, clients: 300, busy: 1.8}},
	}
	rows := aggregateCPU([]*measurement{m}, samples)
	got := map[string]*result{}
	for _, r := range rows {
		got[r.Scenario+" "+r.System] = r
	}
	for key, want := range map[string]float64{
		"x-cpu-servers nexusd": 200, "x-cpu-clients nexusd": 40, "x-cpu nexusd": 240, "x-cores-busy nexusd": 1.7,
		"x-cpu nats": 800,
	} {
		if r := got[key]; r == nil || r.Median != want {
			t.Errorf("%s: %+v, want median %v", key, r, want)
		}
	}
	if r := got["x-cpu nexusd"]; r == nil || r.RatioToNATS == nil || *r.RatioToNATS != 0.3 || r.Min != 150 || r.Max != 310 {
		t.Errorf("x-cpu nexusd: %+v, want 240 [150, 310] at 0.3x NATS", r)
	}
	table := cpuTable(rows)
	if want := "| x | 200 | 40 | 240 | 1.70 | 500 | 300 | 800 | 1.80 | n/a | 0.30x |"; !strings.Contains(table, want) {
		t.Errorf("table has no line %q:\n%s", want, table)
	}
	if cpuTable(nil) != "" {
		t.Error("a table for no rows")
	}
}
