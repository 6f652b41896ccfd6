package mcastsock

import "syscall"

// SharePort is a net.ListenConfig Control function. It lets several
// sockets on one host bind the discovery port (each gets every multicast
// datagram) and, where the system allows, receive only the groups they
// joined, not those other programs joined on the same port.
func SharePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) { serr = shareOpts(int(fd)) }); err != nil {
		return err
	}
	return serr
}
