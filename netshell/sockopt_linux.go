package netshell

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseAddr lets several daemons on one host bind the discovery port; each
// gets every multicast datagram. It also turns off IP_MULTICAST_ALL, so a
// socket receives only the groups it joined itself, not those other
// programs on the host joined on the same port.
func reuseAddr(_, _ string, c syscall.RawConn) error {
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
