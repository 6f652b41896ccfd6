package sockbuf

import (
	"net"

	"golang.org/x/sys/unix"
)

func grow(c *net.UnixConn, bytes int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = growFD(int(fd), bytes) }); err != nil {
		return err
	}
	return serr
}

// growFD tries SO_SNDBUFFORCE and SO_RCVBUFFORCE first, which pass
// net.core.{w,r}mem_max but need CAP_NET_ADMIN, and falls back to
// SO_SNDBUF and SO_RCVBUF, which the kernel caps there, when refused.
func growFD(fd, bytes int) error {
	var first error
	for _, opt := range [][2]int{{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}, {unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt[0], bytes) == nil {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt[1], bytes); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Probe tunes a fresh socket pair as Grow would and says what send and
// receive buffers it got, as set: Linux reports twice that, the rest
// being its own bookkeeping. A daemon logs it once at startup, so whoever
// reads the log learns whether the kernel's cap or a missing
// CAP_NET_ADMIN kept the buffers small.
func Probe(bytes int) (send, receive int, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	_ = growFD(fds[0], bytes) // what it got is the answer either way
	if send, err = unix.GetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF); err != nil {
		return 0, 0, err
	}
	if receive, err = unix.GetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil {
		return 0, 0, err
	}
	return send / 2, receive / 2, nil
}
