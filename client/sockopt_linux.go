package client

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// shareDiscoveryPort lets Discover bind the discovery port beside the
// daemons of the same host (each socket gets every multicast datagram),
// and receive only the groups it joined itself.
func shareDiscoveryPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
