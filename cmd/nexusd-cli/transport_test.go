package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testcert"
	"github.com/nexusd/nexusd/internal/testnet"
)

// TestSocketAndTLS: the CLI reaches a daemon by its --app-socket (-s,
// -h unix:///path, NEXUSD_APP_SOCKET, CONNECT /path) and by its TCP port
// over TLS with a client certificate (--tls-ca, --tls-cert, --tls-key);
// plaintext and certificate-less connections to that port fail, saying so.
func TestSocketAndTLS(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	certs := testcert.New(t, "cli")
	d := testnet.Start(t, testnet.Config{Name: "d", Cluster: fmt.Sprintf("cli-sock-%d", testnet.Port()), McastPort: testnet.Port(),
		Args: []string{"--app-socket", sock, "--app-tls-cert", certs.ServerCert, "--app-tls-key", certs.ServerKey, "--app-tls-ca", certs.CA}})
	tlsAt := append(hostPort(t, d.App), "--tls-ca", certs.CA, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey)

	sub := start(t, "-s", sock, "SUB", "pod/#", "--count", "2", "--timeout", "30s")
	testnet.Eventually(t, 10*time.Second, "the subscription is open", func() error {
		var doc struct{ Topics []struct{ Pattern string } }
		jsonDoc(t, &doc, "-h", "unix://"+sock, "PUBSUB", "TOPICS")
		for _, tp := range doc.Topics {
			if tp.Pattern == "pod/#" {
				return nil
			}
		}
		return fmt.Errorf("topics %+v", doc.Topics)
	})
	ok(t, "-h", "unix://"+sock, "PUBLISH", "pod/unix", "one")
	ok(t, append(slices.Clone(tlsAt), "PUBLISH", "pod/tls", "two")...)
	for _, want := range []string{"pod/unix [1] one", "pod/tls [1] two"} {
		if got := sub.line(10 * time.Second); got != want {
			t.Fatalf("subscriber printed %q, want %q", got, want)
		}
	}
	if code := sub.wait(10 * time.Second); code != 0 {
		t.Fatalf("SUB over the socket exited %d", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := cliCommand(t, ctx, "PING")
	env.Env = append(env.Env, "NEXUSD_APP_SOCKET="+sock)
	if out, err := env.Output(); err != nil || string(out) != "PONG\n" {
		t.Fatalf("PING with NEXUSD_APP_SOCKET: %q, %v", out, err)
	}
	if r := cliIn(t, "CONNECT "+sock+"\nPING\n"); r.code != 0 || !strings.Contains(r.stdout, "OK connected to unix://"+sock) || !strings.Contains(r.stdout, "PONG") {
		t.Fatalf("CONNECT to the socket: %s", r)
	}

	short := []string{"--connect-timeout", "1s"}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"plaintext to the TLS port", append(hostPort(t, d.App), short...), "does it serve TLS"},
		{"TLS without a client certificate", append(hostPort(t, d.App), append(short, "--tls-ca", certs.CA)...), "client certificate"},
		{"socket and host both", []string{"-s", sock, "-p", "5672"}, "not both"},
		{"certificate without its key", []string{"--tls-cert", certs.ClientCert}, "--tls-key"},
		{"missing CA file", []string{"--tls-ca", filepath.Join(t.TempDir(), "none.pem")}, "--tls-ca"},
	} {
		r := cli(t, append(c.args, "PING")...)
		if r.code != 1 || !strings.HasPrefix(r.stdout, "(error) ") || !strings.Contains(r.stdout, c.want) {
			t.Errorf("%s: %s\nwant exit 1 and an error mentioning %q", c.name, r, c.want)
		}
	}
}
