package testnet

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// capNetAdmin is CAP_NET_ADMIN's bit in /proc/self/status's CapEff.
const capNetAdmin = 12

// CanForceSocketBuffers reports whether this process may size socket
// buffers past net.core.{w,r}mem_max (SO_SNDBUFFORCE, SO_RCVBUFFORCE):
// whether it holds CAP_NET_ADMIN, as root usually does (a container's root
// may not).
func CanForceSocketBuffers() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && caps&(1<<capNetAdmin) != 0
		}
	}
	return false
}

// CheckSocketBuffers fails t unless the Unix socket connection conn has
// send and receive buffers set to at least want bytes: getsockopt must say
// twice that, as Linux reports a buffer with its own bookkeeping. Without
// CAP_NET_ADMIN the kernel caps them at net.core.{w,r}mem_max, so want is
// capped there too; in any case they must be at least an untuned
// socket's.
func CheckSocketBuffers(t testing.TB, conn net.Conn, want int) {
	t.Helper()
	u, ok := conn.(*net.UnixConn)
	if !ok {
		t.Fatalf("%T is no Unix socket connection", conn)
	}
	raw, err := u.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	force := CanForceSocketBuffers()
	if !force {
		t.Logf("no CAP_NET_ADMIN: the kernel caps socket buffers at net.core.{w,r}mem_max; the full %d bytes needs CAP_NET_ADMIN (root)", want)
	}
	untuned := untunedSocketBuffers(t)
	for _, o := range []struct {
		name   string
		opt    int
		maxSys string
	}{
		{"SO_SNDBUF", syscall.SO_SNDBUF, "/proc/sys/net/core/wmem_max"},
		{"SO_RCVBUF", syscall.SO_RCVBUF, "/proc/sys/net/core/rmem_max"},
	} {
		floor := want
		if !force {
			floor = min(floor, readInt(o.maxSys))
		}
		floor = max(2*floor, untuned[o.opt])
		var got int
		if cerr := raw.Control(func(fd uintptr) { got, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, o.opt) }); cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil || got < floor {
			t.Fatalf("%s reads %d (%v), want at least %d (twice the %d asked for, or the kernel's cap; an untuned socket reads %d)", o.name, got, err, floor, want, untuned[o.opt])
		}
	}
}

// untunedSocketBuffers is what getsockopt says of a socket nobody sized.
func untunedSocketBuffers(t testing.TB) map[int]int {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	got := map[int]int{}
	for _, opt := range []int{syscall.SO_SNDBUF, syscall.SO_RCVBUF} {
		if got[opt], err = syscall.GetsockoptInt(fds[0], syscall.SOL_SOCKET, opt); err != nil {
			t.Fatalf("getsockopt %d on an untuned socket: %v", opt, err)
		}
	}
	return got
}

// readInt reads a number from a /proc/sys file; 0 when it cannot.
func readInt(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
