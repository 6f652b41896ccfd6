package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testcert"
)

// TestPublishSubscribeOverTheUnixSocket: a daemon's --app-socket is dialed
// as unix:///path, and publishing and subscribing work over it as over
// TCP.
func TestPublishSubscribeOverTheUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.sock")
	daemon(t, "--app-socket", path)
	c := dial(t, "unix://"+path)
	ctx := ctxT(t, 30*time.Second)
	sub, err := c.Subscribe(ctx, []string{"pod/#"})
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, c, "pod/a", payloads("u", 0, 5))
	checkPayloads(t, recv(t, sub, 5, 5*time.Second), payloads("u", 0, 5))
	if c.Addr() != "unix://"+path || c.State() != client.StateConnected {
		t.Fatalf("client at %s in state %s", c.Addr(), c.State())
	}
}

// TestTLSSidecarNeedsTLSAndItsClientCertificate: a daemon serving TLS with
// client certificates from its CA (--app-tls-ca) takes a client that
// trusts its CA and presents such a certificate, and refuses a plaintext
// client, one without a certificate, and one that does not trust it.
func TestTLSSidecarNeedsTLSAndItsClientCertificate(t *testing.T) {
	certs := testcert.New(t, "sidecar")
	d := daemon(t, "--app-tls-cert", certs.ServerCert, "--app-tls-key", certs.ServerKey, "--app-tls-ca", certs.CA)
	c := dial(t, d.App, client.WithTLSFiles(client.TLSFiles{CA: certs.CA, Cert: certs.ClientCert, Key: certs.ClientKey}))
	ctx := ctxT(t, 30*time.Second)
	sub, err := c.Subscribe(ctx, []string{"tls/#"})
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, c, "tls/a", payloads("t", 0, 3))
	checkPayloads(t, recv(t, sub, 3, 5*time.Second), payloads("t", 0, 3))

	other := testcert.New(t, "other")
	for name, opts := range map[string][]client.Option{
		"plaintext":           nil,
		"no client cert":      {client.WithTLSFiles(client.TLSFiles{CA: certs.CA})},
		"another CA's cert":   {client.WithTLSFiles(client.TLSFiles{CA: certs.CA, Cert: other.ClientCert, Key: other.ClientKey})},
		"not trusting the CA": {client.WithTLSFiles(client.TLSFiles{CA: other.CA, Cert: certs.ClientCert, Key: certs.ClientKey})},
	} {
		_, err := client.Dial(context.Background(), d.App, append(opts, client.WithDialTimeout(time.Second))...)
		if !errors.Is(err, client.ErrUnavailable) {
			t.Errorf("%s: Dial %v, want ErrUnavailable", name, err)
			continue
		}
		want := "TLS"
		if name == "not trusting the CA" {
			want = "certificate signed by unknown authority"
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a reason that mentions %q", name, err, want)
		}
	}
}

// TestTLSSidecarWithoutClientCertificates: without --app-tls-ca a client
// needs only to trust the daemon's certificate.
func TestTLSSidecarWithoutClientCertificates(t *testing.T) {
	certs := testcert.New(t, "sidecar")
	d := daemon(t, "--app-tls-cert", certs.ServerCert, "--app-tls-key", certs.ServerKey)
	c := dial(t, d.App, client.WithTLSFiles(client.TLSFiles{CA: certs.CA}))
	if _, err := c.Publish(ctxT(t, 10*time.Second), "tls/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Dial(context.Background(), d.App, client.WithDialTimeout(time.Second)); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("plaintext Dial: %v, want ErrUnavailable", err)
	}
}
