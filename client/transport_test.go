package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
)

// TestAddressesTheClientTakes: host:port and unix sockets (absolute as
// unix:///path, relative as unix:path); anything else is refused before
// dialing, saying what is wanted.
func TestAddressesTheClientTakes(t *testing.T) {
	for addr, wantErr := range map[string]string{
		"127.0.0.1:5672":              "",
		"localhost:5672":              "",
		"unix:///run/nexusd/app.sock": "",
		"unix:app.sock":               "",
		"":                            "address is empty",
		"127.0.0.1":                   "unix:///path/to/socket",
		"unix://app.sock":             "must be absolute",
		"unix:":                       "no socket path",
	} {
		err := checkAddr(addr)
		if (err == nil) != (wantErr == "") || err != nil && !strings.Contains(err.Error(), wantErr) {
			t.Errorf("checkAddr(%q) = %v, want %q", addr, err, wantErr)
		}
	}
	for target, want := range map[string][2]string{
		"unix:///run/app.sock": {"unix", "/run/app.sock"},
		"unix:app.sock":        {"unix", "app.sock"},
		"127.0.0.1:5672":       {"tcp", "127.0.0.1:5672"},
	} {
		if n, a := splitTarget(target); n != want[0] || a != want[1] {
			t.Errorf("splitTarget(%q) = %s %s, want %s %s", target, n, a, want[0], want[1])
		}
	}
	_, err := Dial(context.Background(), "unix://app.sock")
	if !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Dial with a relative unix:// address: %v, want ErrInvalidArgument", err)
	}
	_, err = Dial(context.Background(), "unix:///run/app.sock", WithTLS(nil))
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "plaintext") {
		t.Errorf("Dial a socket with TLS: %v, want ErrInvalidArgument saying the socket is plaintext", err)
	}
}

// TestDialToAMissingSocketSaysWhy: the error names the socket and what
// connecting to it met.
func TestDialToAMissingSocketSaysWhy(t *testing.T) {
	addr := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	_, err := Dial(context.Background(), addr, WithDialTimeout(500*time.Millisecond))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Dial %s: %v, want ErrUnavailable naming the socket and that it is missing", addr, err)
	}
}

// With WithFailFast, a port that refuses and a missing socket end Dial
// at its first try, saying what to check, however long its timeout.
func TestFailFastDialSaysNoDaemonIsThere(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for addr, want := range map[string]string{
		fmt.Sprintf("127.0.0.1:%d", testnet.Port()):         "no daemon listens there",
		"unix://" + filepath.Join(t.TempDir(), "none.sock"): "no daemon serves it",
	} {
		_, err := Dial(ctx, addr, WithFailFast(), WithDialTimeout(time.Minute))
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), want) {
			t.Errorf("Dial %s: %v, want ErrUnavailable naming it and saying %q", addr, err, want)
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("Dial waited out its timeout instead of failing fast")
	}
}

// TestTLSFilesAreCheckedByDial: unreadable files and a certificate
// without its key are the caller's errors.
func TestTLSFilesAreCheckedByDial(t *testing.T) {
	for _, c := range []struct {
		f    TLSFiles
		want string
	}{
		{TLSFiles{CA: filepath.Join(t.TempDir(), "none.pem")}, "TLS CA file"},
		{TLSFiles{Cert: "c.pem"}, "both the certificate and its key"},
		{TLSFiles{Cert: "c.pem", Key: "k.pem"}, "TLS client certificate c.pem"},
	} {
		_, err := Dial(context.Background(), "127.0.0.1:1", WithTLSFiles(c.f))
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Dial with %+v: %v, want ErrInvalidArgument saying %q", c.f, err, c.want)
		}
	}
}

// A Unix socket connection the client dials gets socketBufferBytes each
// way: in full with CAP_NET_ADMIN (root), past net.core.{w,r}mem_max;
// without it, as far as those allow.
func TestSocketConnectionsGetLargeBuffers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("cannot listen on a socket: %v", err)
	}
	defer ln.Close()
	for _, addr := range []string{"unix://" + path, "unix:" + path} {
		conn, err := dialTarget(context.Background(), addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		testnet.CheckSocketBuffers(t, conn, socketBufferBytes)
		conn.Close()
	}
}
