package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc/credentials"
)

// The daemon's address is host:port (its --app-port) or unix:///path (its
// --app-socket; unix:relative/path also works). Over TCP the client may
// use TLS, for a daemon started with --app-tls-cert; the socket is
// plaintext, guarded by its file mode.

// checkAddr refuses an address the client cannot dial, saying what it
// takes.
func checkAddr(addr string) error {
	const want = "want host:port, such as 127.0.0.1:5672, or unix:///path/to/socket"
	if addr == "" {
		return errors.New("address is empty: give the daemon's sidecar address, such as 127.0.0.1:5672 or unix:///run/nexusd/app.sock")
	}
	if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		path := rest
		if p, ok := strings.CutPrefix(rest, "//"); ok {
			if !strings.HasPrefix(p, "/") {
				return fmt.Errorf("address %q: a socket path after unix:// must be absolute (unix:///path, three slashes); a relative one is unix:path", addr)
			}
			path = p
		}
		if path == "" {
			return fmt.Errorf("address %q: no socket path: %s", addr, want)
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("address %q: %s", addr, want)
	}
	return nil
}

// splitTarget is the network and address to dial for what gRPC hands the
// client's dialer: "unix:///path" or "unix:path" for a socket (gRPC's unix
// resolver adds the scheme back), host:port otherwise.
func splitTarget(addr string) (network, address string) {
	if p, ok := strings.CutPrefix(addr, "unix://"); ok {
		return "unix", p
	}
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		return "unix", p
	}
	return "tcp", addr
}

// TLSFiles are the PEM files WithTLSFiles reads.
type TLSFiles struct {
	CA         string // CA certificates the daemon's certificate must chain to; "" = the system's roots
	Cert, Key  string // the client's certificate and key, for a daemon started with --app-tls-ca; "" = none
	ServerName string // the name the daemon's certificate must carry; "" = the address's host
}

// WithTLS dials the daemon over TLS with cfg (nil: the system's roots, the
// address's host as the server name), for a daemon whose sidecar serves
// TLS (--app-tls-cert). Give cfg.Certificates (or GetClientCertificate)
// when the daemon requires client certificates (--app-tls-ca).
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) error {
		if cfg == nil {
			cfg = &tls.Config{}
		}
		o.tls = cfg.Clone()
		return nil
	}
}

// WithTLSFiles dials the daemon over TLS with certificates read from PEM
// files: f.CA to verify the daemon (the system's roots when empty), and
// f.Cert with f.Key to present to a daemon that requires client
// certificates (--app-tls-ca). The files are read once, by Dial.
func WithTLSFiles(f TLSFiles) Option {
	return func(o *options) error {
		cfg := &tls.Config{ServerName: f.ServerName, MinVersion: tls.VersionTLS12}
		if f.CA != "" {
			pem, err := os.ReadFile(f.CA)
			if err != nil {
				return fmt.Errorf("TLS CA file: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return fmt.Errorf("TLS CA file %s holds no PEM certificate", f.CA)
			}
		}
		switch {
		case (f.Cert == "") != (f.Key == ""):
			return errors.New("TLS client certificate: give both the certificate and its key, or neither")
		case f.Cert != "":
			cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
			if err != nil {
				return fmt.Errorf("TLS client certificate %s and key %s: %w", f.Cert, f.Key, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		o.tls = cfg
		return nil
	}
}

// errNoAnswer is why a connection made is not up yet: the daemon has not
// answered. A plaintext client of a daemon serving TLS, or one without the
// client certificate the daemon requires, sees only this.
var errNoAnswer = errors.New("connected, but no gRPC answer came: is this the daemon's sidecar port (--app-port, not its admin --http-addr), and does it serve TLS (--app-tls-cert) or require a client certificate (--app-tls-ca)?")

// handshakeReporter keeps the reason of a failed TLS handshake, so Dial's
// error says why (an unknown authority, a plaintext daemon) instead of
// only that time ran out.
type handshakeReporter struct {
	credentials.TransportCredentials
	c *Client
}

func (h handshakeReporter) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := h.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		err = fmt.Errorf("TLS handshake: %w", err)
		h.c.lastErr.Store(&err)
	}
	return out, info, err
}

func (h handshakeReporter) Clone() credentials.TransportCredentials {
	return handshakeReporter{h.TransportCredentials.Clone(), h.c}
}
