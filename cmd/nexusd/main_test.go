package main

import (
	"testing"

	"google.golang.org/grpc/mem"

	"github.com/nexusd/nexusd/internal/bufpool"
)

// The exit statuses the daemon promises: 2 for a bad flag, 0 for --help.
// (A running daemon is tested end to end in e2e/.)
func TestExitStatuses(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"--mesh-port", "x"}, 2},
		{[]string{"--log-format=xml"}, 2},
		{[]string{"--app-bind", "0.0.0.0"}, 2},
		{[]string{"--help"}, 0},
	} {
		if got := run(c.args); got != c.want {
			t.Errorf("nexusd %v exits %d, want %d", c.args, got, c.want)
		}
	}
}

// The daemon encodes with the pool that does not clear recycled buffers:
// gRPC's codec takes the process default, not the server's pool.
func TestDaemonMakesItsBufferPoolTheProcessDefault(t *testing.T) {
	tuneProcess()
	if p, ok := mem.DefaultBufferPool().(*bufpool.Pool); !ok {
		t.Fatalf("gRPC's default buffer pool is %T, want *bufpool.Pool", p)
	}
}
