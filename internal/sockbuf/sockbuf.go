package sockbuf

import "net"

// Grow asks for bytes of send and receive buffer on c, best effort: where
// the process may (Linux, with CAP_NET_ADMIN) past the kernel's cap,
// otherwise up to it (net.core.wmem_max and rmem_max on Linux). An error
// says only that the buffers kept some other size; the connection is
// unharmed either way.
func Grow(c *net.UnixConn, bytes int) error {
	return grow(c, bytes)
}
