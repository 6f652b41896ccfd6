//go:build !linux

package sockbuf

import (
	"errors"
	"net"
)

// grow asks through the standard library, which the system caps.
func grow(c *net.UnixConn, bytes int) error {
	return errors.Join(c.SetWriteBuffer(bytes), c.SetReadBuffer(bytes))
}

// Probe is Linux only: elsewhere it says errors.ErrUnsupported.
func Probe(int) (send, receive int, err error) { return 0, 0, errors.ErrUnsupported }
