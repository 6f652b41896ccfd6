package netshell

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/testcert"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// dialTLS connects to addr over TLS, trusting caFile and presenting the
// client certificate certFile/keyFile when given.
func dialTLS(t *testing.T, addr, caFile, certFile, keyFile string) sidecarpb.SidecarServiceClient {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: x509.NewCertPool()}
	cfg.RootCAs.AppendCertsFromPEM(pem)
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(grpccreds.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return sidecarpb.NewSidecarServiceClient(conn)
}

func publishes(t *testing.T, app sidecarpb.SidecarServiceClient) error {
	t.Helper()
	_, err := app.Publish(ctx5(t), &sidecarpb.PublishRequest{Topic: "tls/a", Payload: []byte("x")})
	return err
}

// TestSidecarServesTLS: with --app-tls-cert and --app-tls-key the TCP
// port takes TLS clients that trust the certificate and refuses plaintext
// ones; the Unix socket stays plaintext, guarded by its file mode.
func TestSidecarServesTLS(t *testing.T) {
	certs := testcert.New(t, "sidecar")
	path := socketPath(t)
	ts := startServer(t, func(o *Options) { o.AppTLSCert, o.AppTLSKey, o.AppSocket = certs.ServerCert, certs.ServerKey, path })
	if err := publishes(t, dialTLS(t, ts.s.Addrs().App, certs.CA, "", "")); err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	if err := publishes(t, ts.app); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext client of the TLS port: %v, want UNAVAILABLE", err)
	}
	other := testcert.New(t, "other")
	if err := publishes(t, dialTLS(t, ts.s.Addrs().App, other.CA, "", "")); status.Code(err) != codes.Unavailable {
		t.Fatalf("client trusting another CA: %v, want UNAVAILABLE", err)
	}
	h, err := healthpb.NewHealthClient(mustDial(t, "unix://"+path)).Check(ctx5(t), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("plaintext health over the socket: %v, %v", h, err)
	}
}

// TestSidecarRequiresClientCertificatesFromItsCA: with --app-tls-ca a
// client must present a certificate that CA signed.
func TestSidecarRequiresClientCertificatesFromItsCA(t *testing.T) {
	certs, other := testcert.New(t, "sidecar"), testcert.New(t, "other")
	ts := startServer(t, func(o *Options) { o.AppTLSCert, o.AppTLSKey, o.AppTLSCA = certs.ServerCert, certs.ServerKey, certs.CA })
	addr := ts.s.Addrs().App
	if err := publishes(t, dialTLS(t, addr, certs.CA, certs.ClientCert, certs.ClientKey)); err != nil {
		t.Fatalf("client with a certificate of the CA: %v", err)
	}
	if err := publishes(t, dialTLS(t, addr, certs.CA, "", "")); status.Code(err) != codes.Unavailable {
		t.Fatalf("client without a certificate: %v, want UNAVAILABLE", err)
	}
	if err := publishes(t, dialTLS(t, addr, certs.CA, other.ClientCert, other.ClientKey)); status.Code(err) != codes.Unavailable {
		t.Fatalf("client with another CA's certificate: %v, want UNAVAILABLE", err)
	}
}

// TestSidecarTLSReloads: Reload (SIGHUP) takes new certificate files for
// the connections made afterwards; a file that fails to load leaves the
// loaded one in use and the error names its flag.
func TestSidecarTLSReloads(t *testing.T) {
	first, second := testcert.New(t, "first"), testcert.New(t, "second")
	cert, key := copyFile(t, first.ServerCert), copyFile(t, first.ServerKey)
	ts := startServer(t, func(o *Options) { o.AppTLSCert, o.AppTLSKey = cert, key })
	addr := ts.s.Addrs().App
	if err := publishes(t, dialTLS(t, addr, first.CA, "", "")); err != nil {
		t.Fatalf("before the reload: %v", err)
	}
	writeFile(t, cert, readFile(t, second.ServerCert))
	writeFile(t, key, readFile(t, second.ServerKey))
	if err := ts.s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if err := publishes(t, dialTLS(t, addr, second.CA, "", "")); err != nil {
		t.Fatalf("after the reload, trusting the new CA: %v", err)
	}
	if err := publishes(t, dialTLS(t, addr, first.CA, "", "")); status.Code(err) != codes.Unavailable {
		t.Fatalf("after the reload, trusting only the old CA: %v, want UNAVAILABLE", err)
	}
	writeFile(t, key, []byte("not a key"))
	if err := ts.s.Reload(); err == nil || !strings.Contains(err.Error(), "--app-tls-key") {
		t.Fatalf("Reload of a bad key: %v, want an error naming --app-tls-key", err)
	}
	if err := publishes(t, dialTLS(t, addr, second.CA, "", "")); err != nil {
		t.Fatalf("after a failed reload the loaded certificate must stay: %v", err)
	}
}

// TestSidecarTLSFilesAreCheckedAtStart: New reads the files and names the
// flag of the one at fault.
func TestSidecarTLSFilesAreCheckedAtStart(t *testing.T) {
	certs := testcert.New(t, "sidecar")
	for _, c := range []struct {
		cert, key, ca string
		want          string
	}{
		{certs.ServerCert + ".missing", certs.ServerKey, "", "--app-tls-cert"},
		{certs.ServerCert, certs.ServerKey + ".missing", "", "--app-tls-key"},
		{certs.ServerCert, certs.ClientKey, "", "--app-tls-key"}, // a key of another certificate
		{certs.ServerCert, certs.ServerKey, certs.ServerKey, "--app-tls-ca"},
	} {
		o := socketOptions(t, "")
		o.AppTLSCert, o.AppTLSKey, o.AppTLSCA = c.cert, c.key, c.ca
		if _, err := New(o, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New with cert %s key %s ca %s: %v, want an error naming %s", c.cert, c.key, c.ca, err, c.want)
		}
	}
}

func copyFile(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir() + "/" + src[strings.LastIndexByte(src, '/')+1:]
	writeFile(t, dst, readFile(t, src))
	return dst
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
