//go:build !linux

package mcastsock

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// SharePort is a net.ListenConfig Control function that lets several
// sockets on one host bind the discovery port.
func SharePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
