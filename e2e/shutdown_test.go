package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/nexusd/nexusd/internal/testnet"
)

// TestInterruptStopsCleanlyAndJSONLogsNameTheNode: with --log-format json
// every line the daemon writes is a JSON object carrying the node id, and
// SIGINT (Ctrl-C) stops it cleanly within 5 s, exit 0, as SIGTERM does.
func TestInterruptStopsCleanlyAndJSONLogsNameTheNode(t *testing.T) {
	testnet.Require(t)
	cluster, port := newCluster(t)
	d := testnet.Start(t, testnet.Config{Name: "j", Cluster: cluster, McastPort: port, Args: []string{"--log-format", "json"}})
	d.StopWith(syscall.SIGINT) // fails the test unless exit 0 within 5 s
	var node string
	var stopped bool
	lines := strings.Split(strings.TrimSpace(d.Log()), "\n")
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		id, _ := rec["node"].(string)
		if id == "" || (node != "" && id != node) {
			t.Fatalf("log line without the node id (or with another): %q", line)
		}
		node = id
		if rec["msg"] == "shutting down" && strings.Contains(rec["reason"].(string), "interrupt") {
			stopped = true
		}
	}
	if len(lines) < 2 || !stopped {
		t.Fatalf("%d log lines, interrupt logged: %v\n%s", len(lines), stopped, d.Log())
	}
}
