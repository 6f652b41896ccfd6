package netshell

import (
	"log/slog"
	"net"

	"github.com/nexusd/nexusd/internal/sockbuf"
)

// appSocketBufferBytes is each app socket connection's send and receive
// buffer. A packed frame is up to 256 KiB and a window is 4096 records;
// in Linux's default of about 208 KiB (net.core.wmem_default) a frame
// does not even fit, so every frame waits on the reader. 4 MiB lets a
// batch stream run (issue 13). Past net.core.{w,r}mem_max only with
// CAP_NET_ADMIN (SO_SNDBUFFORCE); otherwise the kernel caps it there.
const appSocketBufferBytes = 4 << 20

// bufferedListener gives every connection it accepts appSocketBufferBytes
// each way, best effort: a connection whose buffers stay smaller still
// works.
type bufferedListener struct{ net.Listener }

func (l bufferedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if u, ok := c.(*net.UnixConn); ok && err == nil {
		_ = sockbuf.Grow(u, appSocketBufferBytes)
	}
	return c, err
}

// logAppSocketBuffers says once, at startup, what buffers the app
// socket's connections get (docs/protocol.md promises the line), so a
// daemon without CAP_NET_ADMIN whose kernel caps them low says so.
func logAppSocketBuffers(log *slog.Logger) {
	send, receive, err := sockbuf.Probe(appSocketBufferBytes)
	switch {
	case err != nil:
		log.Debug("app socket buffers: cannot tell what the kernel gives", "err", err)
	case send < appSocketBufferBytes || receive < appSocketBufferBytes:
		log.Info("app socket buffers smaller than asked: the kernel caps them at net.core.wmem_max and rmem_max unless the daemon has CAP_NET_ADMIN",
			"send_bytes", send, "receive_bytes", receive, "asked_bytes", appSocketBufferBytes)
	default:
		log.Info("app socket buffers", "send_bytes", send, "receive_bytes", receive)
	}
}
