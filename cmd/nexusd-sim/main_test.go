package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs nexusd-sim with args and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	stdout, stderr = &out, &errb
	t.Cleanup(func() { stdout, stderr = os.Stdout, os.Stderr })
	return run(args), out.String(), errb.String()
}

// splitCommand splits a printed command line: words, and '...' quoted.
func splitCommand(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '\'' {
			end := strings.IndexByte(s[1:], '\'') + 1
			out, s = append(out, s[1:end]), s[end+1:]
			continue
		}
		word, rest, _ := strings.Cut(s, " ")
		out, s = append(out, word), rest
	}
	return out
}

// The replay command a run prints reproduces the run: the same trace hash,
// non-default workload settings included.
func TestReplayCommandReproducesTheRun(t *testing.T) {
	code, out, errs := runCmd(t, "swarm", "--nodes", "8", "--seed", "3", "--duration", "5s",
		"--faults", "default,crashes=0", "--topics", "3", "--rate", "120", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var first struct {
		Replay    string `json:"replay"`
		TraceHash string `json:"trace_hash"`
	}
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	args := splitCommand(first.Replay)
	if len(args) < 2 || args[0] != "nexusd-sim" || args[1] != "swarm" {
		t.Fatalf("replay %q is not a nexusd-sim swarm command", first.Replay)
	}
	code, out, errs = runCmd(t, append(args[1:], "--json")...)
	if code != 0 {
		t.Fatalf("replay exit %d: %s", code, errs)
	}
	var again struct {
		TraceHash string `json:"trace_hash"`
	}
	json.Unmarshal([]byte(out), &again)
	if again.TraceHash != first.TraceHash {
		t.Fatalf("%s gave trace %s, the run it replays %s", first.Replay, again.TraceHash, first.TraceHash)
	}
}

func TestBadSwarmFlagsExitTwoNamingTheFlag(t *testing.T) {
	for _, args := range [][]string{
		{"swarm", "--nodes", "0"},
		{"swarm", "--faults", "loss=2"},
		{"swarm", "--invariants", "sometimes"},
		{"swarm", "--rate", "-1"},
	} {
		code, _, errs := runCmd(t, args...)
		if code != 2 || !strings.Contains(errs, args[1]) {
			t.Errorf("%v: exit %d, stderr %q: want 2 and a line naming %s", args, code, errs, args[1])
		}
	}
}

// A script whose check fails exits 1 and says which line failed.
func TestScriptNamesTheFailedCheckAndExitsOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	os.WriteFile(path, []byte("world nodes=2 seed=1\nsubscribe node=2 topic=a sub=s\nstabilize\n# nothing published\ncheck delivered node=2 sub=s count=1\ncheck order\n"), 0o644)
	code, out, errs := runCmd(t, "script", path)
	if code != 1 || !strings.Contains(out, "check failed at line 5") || !strings.Contains(errs, "1 check(s) failed") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	os.WriteFile(path, []byte("world nodes=2 seed=1\nfly node=1\n"), 0o644)
	if code, _, errs := runCmd(t, "script", path); code != 2 || !strings.Contains(errs, ":2:") {
		t.Fatalf("unknown command: exit %d, stderr %q; want 2 naming line 2", code, errs)
	}
}
