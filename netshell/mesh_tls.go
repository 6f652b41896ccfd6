package netshell

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/keyring"
	"github.com/nexusd/nexusd/internal/meshtls"
)

// meshTLS is the mesh port's mutual TLS (internal/meshtls): from the
// --tls-* files when given, else derived from the cluster keyring. A
// daemon with neither has none, and its mesh is plaintext.
type meshTLS struct {
	cfg   *meshtls.Config
	files meshtls.Files // zero: derived from the keyring

	mu     sync.Mutex   // serialises reloads of the files
	stamps [3]fileStamp // of files.Cert, Key and CA; guarded by mu
}

// The modes meshSecurity reports.
const (
	meshTLSFiles = "tls-files"
	meshTLSKey   = "cluster-key"
	meshTLSNone  = "none"
)

// meshAuthHelp is what a mesh caller without a certificate is told.
const meshAuthHelp = "mesh calls need a certificate from the cluster CA: start this peer with the same --cluster-key, or --tls-* certificates from --tls-ca"

// checkMeshTLS validates the --tls-* flags: all three or none, each
// readable; New loads them.
func (o *Options) checkMeshTLS() error {
	files := []struct{ flag, path string }{{"--tls-cert", o.TLSCert}, {"--tls-key", o.TLSKey}, {"--tls-ca", o.TLSCA}}
	if o.TLSCert == "" && o.TLSKey == "" && o.TLSCA == "" {
		return nil
	}
	for _, f := range files {
		if f.path == "" {
			return fmt.Errorf("%s: required with the other --tls-* flags: the mesh needs this daemon's certificate (--tls-cert), its key (--tls-key) and the CA peers' certificates chain to (--tls-ca)", f.flag)
		}
		fh, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
		fh.Close()
	}
	return nil
}

// loadMeshTLS makes the mesh's TLS, naming this daemon's certificate id
// in keyring mode; nil when the daemon has neither files nor a key. Files
// win over a key: the key then authenticates beacons only.
func loadMeshTLS(o *Options, creds *credentials, id string) (*meshTLS, error) {
	switch {
	case o.TLSCert != "":
		t := &meshTLS{files: meshtls.Files{Cert: o.TLSCert, Key: o.TLSKey, CA: o.TLSCA}}
		t.stamps, _ = t.stampFiles() // a file changed meanwhile is loaded again at the next poll
		cfg, err := meshtls.FromFiles(t.files)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert, --tls-key, --tls-ca: %w", err)
		}
		t.cfg = cfg
		return t, nil
	case creds.Ring() != nil:
		t := &meshTLS{cfg: meshtls.FromRing(creds.Ring(), id)}
		creds.OnRing(func(r *keyring.Ring) { t.cfg.SetRing(r) })
		return t, nil
	}
	return nil, nil
}

// hasFiles tells a daemon with --tls-* files.
func (t *meshTLS) hasFiles() bool { return t != nil && t.files != (meshtls.Files{}) }

func (t *meshTLS) stampFiles() ([3]fileStamp, error) {
	var stamps [3]fileStamp
	for i, f := range []struct{ flag, path string }{{"--tls-cert", t.files.Cert}, {"--tls-key", t.files.Key}, {"--tls-ca", t.files.CA}} {
		s, err := stampOf(f.path)
		if err != nil {
			return stamps, fmt.Errorf("%s: %w", f.flag, err)
		}
		stamps[i] = s
	}
	return stamps, nil
}

// reload reads the --tls-* files again if one changed (or always when
// force), and reports whether it did. On error the material in use stays.
func (t *meshTLS) reload(force bool) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	stamps, err := t.stampFiles()
	if err != nil {
		return false, err
	}
	if stamps == t.stamps && !force {
		return false, nil
	}
	if err := t.cfg.ReloadFiles(); err != nil {
		return false, fmt.Errorf("--tls-cert, --tls-key, --tls-ca: %w", err)
	}
	t.stamps = stamps
	return true, nil
}

// reloadMeshTLS reloads the --tls-* files if one changed (or always when
// force) and logs what happened; nil without files. A new keyring reaches
// the mesh by itself (OnRing). watchCredentials and Reload call it.
func (s *Server) reloadMeshTLS(force bool) error {
	if !s.meshTLS.hasFiles() {
		return nil
	}
	switch changed, err := s.meshTLS.reload(force); {
	case err != nil:
		s.log.Warn("mesh TLS files not reloaded; the loaded certificate stays in use", "err", err)
		return err
	case changed:
		s.log.Info("mesh TLS files reloaded", "cert", s.meshTLS.files.Cert, "ca", s.meshTLS.files.CA)
	}
	return nil
}

// meshSecurity names what protects the mesh port: "tls-files" (mutual
// TLS from --tls-*), "cluster-key" (mutual TLS derived from
// --cluster-key) or "none" (plaintext).
func (s *Server) meshSecurity() string {
	switch {
	case s.meshTLS.hasFiles():
		return meshTLSFiles
	case s.meshTLS != nil:
		return meshTLSKey
	}
	return meshTLSNone
}

// meshAuth is what the mesh server adds to check its callers: TLS
// credentials that count failed handshakes, and interceptors that refuse
// callers without a verified certificate. Nothing for a plaintext mesh.
func (s *Server) meshAuth() ([]grpc.ServerOption, []grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	if s.meshTLS == nil {
		return nil, nil, nil
	}
	creds := countHandshakes{TransportCredentials: grpccreds.NewTLS(s.meshTLS.cfg.ServerTLS()),
		failed: s.metrics.meshRefused.WithLabelValues("handshake"), log: s.log}
	u, st := requireMeshCertificate(s.metrics.meshRefused.WithLabelValues("unauthenticated"))
	return []grpc.ServerOption{grpc.Creds(creds)}, []grpc.UnaryServerInterceptor{u}, []grpc.StreamServerInterceptor{st}
}

// meshDialCredentials are the mesh client's transport credentials: this
// daemon's certificate and its trust, or plaintext.
func (s *Server) meshDialCredentials() grpc.DialOption {
	if s.meshTLS == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return grpc.WithTransportCredentials(grpccreds.NewTLS(s.meshTLS.cfg.ClientTLS()))
}

// requireMeshCertificate refuses every mesh call but health checks from a
// caller whose handshake verified no certificate, and counts it.
func requireMeshCertificate(refused prometheus.Counter) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	check := func(ctx context.Context, method string) error {
		if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
			return nil
		}
		if p, ok := peer.FromContext(ctx); ok {
			if info, ok := p.AuthInfo.(grpccreds.TLSInfo); ok && len(info.State.VerifiedChains) > 0 {
				return nil
			}
		}
		refused.Inc()
		return status.Error(codes.Unauthenticated, meshAuthHelp)
	}
	return checkEveryCall(check)
}

// countHandshakes counts the mesh server's failed TLS handshakes: callers
// speaking plaintext, or presenting a certificate no trusted CA issued.
type countHandshakes struct {
	grpccreds.TransportCredentials
	failed prometheus.Counter
	log    *slog.Logger
}

func (c countHandshakes) ServerHandshake(conn net.Conn) (net.Conn, grpccreds.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil && !errors.Is(err, grpccreds.ErrConnDispatched) {
		c.failed.Inc()
		c.log.Debug("mesh TLS handshake failed", "from", conn.RemoteAddr(), "err", err)
	}
	return out, info, err
}

func (c countHandshakes) Clone() grpccreds.TransportCredentials {
	return countHandshakes{TransportCredentials: c.TransportCredentials.Clone(), failed: c.failed, log: c.log}
}
