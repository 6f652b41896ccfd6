package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/mem"

	"github.com/nexusd/nexusd/internal/bufpool"
	"github.com/nexusd/nexusd/internal/keyring"
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
		{[]string{"--version"}, 0},
		{[]string{"--version", "--mesh-port", "1"}, 2}, // --version stands alone
	} {
		if got := run(c.args, io.Discard, io.Discard); got != c.want {
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

// keygen makes keys a daemon loads, writes them only to new files that
// only their owner reads, and never overwrites one.
func TestKeygenWritesALoadableKeyOnlyToANewPrivateFile(t *testing.T) {
	var out, errs strings.Builder
	if code := keygen(nil, &out, &errs); code != 0 {
		t.Fatalf("keygen exited %d: %s", code, errs.String())
	}
	if _, err := keyring.Parse([]byte(out.String())); err != nil {
		t.Fatalf("printed key does not parse: %v\n%s", err, out.String())
	}
	path := filepath.Join(t.TempDir(), "cluster.key")
	if code := keygen([]string{"--out", path}, &out, &errs); code != 0 {
		t.Fatalf("keygen --out exited %d: %s", code, errs.String())
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v mode %v, want 0600", err, fi.Mode().Perm())
	}
	if _, err := keyring.Load(path); err != nil {
		t.Fatalf("written key does not load: %v", err)
	}
	before, _ := os.ReadFile(path)
	errs.Reset()
	if code := keygen([]string{"--out", path}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "never overwrites") {
		t.Fatalf("keygen over an existing key exited %d: %s", code, errs.String())
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the existing key was changed")
	}
	if code := keygen([]string{"extra"}, &out, &errs); code != 2 {
		t.Fatalf("keygen with an argument exited %d, want 2", code)
	}
}

// Every early end says why in one style: one line "nexusd: ..." on stderr,
// exit 2 for what the daemon refuses to start with, 1 when it cannot run.
func TestFailuresSayWhyInOneStyle(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--mesh-port", "x"}, 2, "nexusd: --mesh-port: "},
		{[]string{"--cluster-key", filepath.Join(t.TempDir(), "none")}, 2, "nexusd: --cluster-key: "},
		{[]string{"--mcast-addr", "off", "--bind", "127.0.0.1", "--http-addr", "off", "--app-port", "0", "--mesh-port", port}, 1, "nexusd: --mesh-port: cannot listen"},
	} {
		var errs strings.Builder
		code := run(c.args, io.Discard, &errs)
		lines := strings.Split(strings.TrimSpace(errs.String()), "\n")
		if code != c.code || !strings.HasPrefix(lines[len(lines)-1], c.want) {
			t.Errorf("nexusd %v: exit %d, last line %q; want exit %d and a line starting %q", c.args, code, lines[len(lines)-1], c.code, c.want)
		}
	}
}
