package sockbuf

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nexusd/nexusd/internal/testnet"
)

// unixPair is two ends of a Unix socket connection in a temporary
// directory.
func unixPair(t *testing.T) (dialed, accepted *net.UnixConn) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return c.(*net.UnixConn), a.(*net.UnixConn)
}

// With CAP_NET_ADMIN, Grow passes the kernel's cap (net.core.wmem_max,
// rmem_max), which SO_SNDBUF and SO_RCVBUF alone cannot.
func TestGrowPassesTheKernelCapWithNetAdmin(t *testing.T) {
	if !testnet.CanForceSocketBuffers() {
		t.Skip("needs CAP_NET_ADMIN (root) to size buffers past net.core.{w,r}mem_max")
	}
	limit := 0
	for _, f := range []string{"/proc/sys/net/core/wmem_max", "/proc/sys/net/core/rmem_max"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Skipf("cannot read the kernel's cap: %v", err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		limit = max(limit, n)
	}
	want := 2 * limit
	_, c := unixPair(t)
	if err := Grow(c, want); err != nil {
		t.Fatal(err)
	}
	testnet.CheckSocketBuffers(t, c, want)
}

// Grow never makes buffers smaller than an untuned socket's, and Probe
// says what a tuned socket gets, as set.
func TestGrowAndProbeAgree(t *testing.T) {
	const want = 4 << 20
	_, c := unixPair(t)
	_ = Grow(c, want) // refused in part or not, the check below says what counts
	testnet.CheckSocketBuffers(t, c, want)
	send, receive, err := Probe(want)
	if err != nil {
		t.Fatal(err)
	}
	if testnet.CanForceSocketBuffers() && (send < want || receive < want) {
		t.Fatalf("Probe says %d and %d bytes, want %d each with CAP_NET_ADMIN", send, receive, want)
	}
	t.Logf("send %d, receive %d bytes", send, receive)
}
