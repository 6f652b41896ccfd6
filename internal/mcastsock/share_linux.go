package mcastsock

import "golang.org/x/sys/unix"

// shareOpts: SO_REUSEADDR shares the port; IP_MULTICAST_ALL off keeps
// other programs' groups out.
func shareOpts(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0)
}
