package mcastsock

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// SharePort is a net.ListenConfig Control function. It lets several
// sockets on one host bind the discovery port (each gets every multicast
// datagram) and turns off IP_MULTICAST_ALL, so a socket receives only the
// groups it joined, not those other programs joined on the same port.
func SharePort(_, _ string, c syscall.RawConn) error {
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
