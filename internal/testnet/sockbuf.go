package testnet

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// CheckSocketBuffers fails t unless the Unix socket connection conn has
// send and receive buffers of at least want bytes, or what the kernel
// allows (net.core.{w,r}mem_max); it skips when the kernel allows too
// little for the check to tell anything.
func CheckSocketBuffers(t testing.TB, conn net.Conn, want int) {
	t.Helper()
	for _, f := range []string{"/proc/sys/net/core/wmem_max", "/proc/sys/net/core/rmem_max"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Skipf("cannot read %s: %v", f, err)
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		want = min(want, n)
	}
	if want <= 256<<10 {
		t.Skipf("the kernel caps socket buffers at %d bytes: nothing to see", want)
	}
	u, ok := conn.(*net.UnixConn)
	if !ok {
		t.Fatalf("%T is no Unix socket connection", conn)
	}
	raw, err := u.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []int{syscall.SO_SNDBUF, syscall.SO_RCVBUF} {
		var got int
		raw.Control(func(fd uintptr) { got, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt) })
		if err != nil || got < want { // Linux reports twice what was set
			t.Fatalf("socket option %d is %d (%v), want at least %d", opt, got, err, want)
		}
	}
}
