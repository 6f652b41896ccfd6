package netshell

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
)

// sidecarTLS is the TLS of the sidecar's TCP port (--app-tls-cert,
// --app-tls-key, and --app-tls-ca to require client certificates). Its
// files reload when they change or on SIGHUP, as the cluster key does:
// every handshake takes the configuration loaded last, so connections made
// afterwards use the new certificate and those open keep theirs.
type sidecarTLS struct {
	certFile, keyFile, caFile string

	mu     sync.Mutex   // serialises reloads
	stamps [3]fileStamp // of certFile, keyFile, caFile; guarded by mu
	cur    atomic.Pointer[tls.Config]
}

// checkSidecarTLS validates the --app-tls-* flags together; the files are
// read by New.
func (o *Options) checkSidecarTLS() error {
	switch {
	case o.AppTLSCert != "" && o.AppTLSKey == "":
		return errors.New("--app-tls-key: required with --app-tls-cert: give the certificate's private key")
	case o.AppTLSKey != "" && o.AppTLSCert == "":
		return errors.New("--app-tls-cert: required with --app-tls-key: give the certificate the key belongs to")
	case o.AppTLSCA != "" && o.AppTLSCert == "":
		return errors.New("--app-tls-ca: requires --app-tls-cert and --app-tls-key: the sidecar checks client certificates only over TLS")
	case o.AppTLSCert != "" && o.AppPort == AppPortOff:
		return errors.New("--app-tls-cert: the sidecar's TLS is for its TCP port, which --app-port off turns off (the socket's file mode guards --app-socket)")
	}
	return nil
}

// loadSidecarTLS reads the sidecar's TLS files; nil when there are none.
func loadSidecarTLS(o *Options) (*sidecarTLS, error) {
	if o.AppTLSCert == "" {
		return nil, nil
	}
	t := &sidecarTLS{certFile: o.AppTLSCert, keyFile: o.AppTLSKey, caFile: o.AppTLSCA}
	if _, err := t.reload(true); err != nil {
		return nil, err
	}
	return t, nil
}

// reload reads the files again if one changed (or always when force), and
// reports whether it did. On error the configuration in use stays; the
// error names the flag of the file at fault.
func (t *sidecarTLS) reload(force bool) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var stamps [3]fileStamp
	for i, f := range []struct{ flag, path string }{{"--app-tls-cert", t.certFile}, {"--app-tls-key", t.keyFile}, {"--app-tls-ca", t.caFile}} {
		if f.path == "" {
			continue
		}
		s, err := stampOf(f.path)
		if err != nil {
			return false, fmt.Errorf("%s: %w", f.flag, err)
		}
		stamps[i] = s
	}
	if stamps == t.stamps && !force {
		return false, nil
	}
	cfg, err := t.load()
	if err != nil {
		return false, err
	}
	t.cur.Store(cfg)
	t.stamps = stamps
	return true, nil
}

// load builds a server configuration from the files.
func (t *sidecarTLS) load() (*tls.Config, error) {
	certPEM, err := os.ReadFile(t.certFile)
	if err != nil {
		return nil, fmt.Errorf("--app-tls-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(t.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--app-tls-key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("--app-tls-cert %s and --app-tls-key %s: %w (want PEM files of one certificate and its key)", t.certFile, t.keyFile, err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2"}, // gRPC clients require ALPN
	}
	if t.caFile != "" {
		caPEM, err := os.ReadFile(t.caFile)
		if err != nil {
			return nil, fmt.Errorf("--app-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("--app-tls-ca: %s holds no PEM certificate", t.caFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// listener serves TLS on ln with the configuration loaded last.
func (t *sidecarTLS) listener(ln net.Listener) net.Listener {
	return tls.NewListener(ln, &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.cur.Load(), nil
		},
	})
}

// reloadSidecarTLS reloads the sidecar's TLS files if one changed (or
// always when force) and logs what happened; nil when the sidecar has no
// TLS. watchCredentials and Reload call it.
func (s *Server) reloadSidecarTLS(force bool) error {
	if s.appTLS == nil {
		return nil
	}
	switch changed, err := s.appTLS.reload(force); {
	case err != nil:
		s.log.Warn("sidecar TLS files not reloaded; the loaded certificate stays in use", "err", err)
		return err
	case changed:
		s.log.Info("sidecar TLS files reloaded", "cert", s.appTLS.certFile, "client_ca", s.appTLS.caFile)
	}
	return nil
}
