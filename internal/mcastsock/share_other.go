//go:build !linux

package mcastsock

import "golang.org/x/sys/unix"

// shareOpts: the BSDs share a multicast port with SO_REUSEPORT too.
func shareOpts(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}
