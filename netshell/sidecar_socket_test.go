package netshell

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// socketPath is a fresh socket path in the test's temporary directory.
func socketPath(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "app.sock")
	if len(p) > maxSocketPathBytes {
		t.Skipf("temporary directory too deep for a Unix socket: %s", p)
	}
	return p
}

// TestSidecarServesOnItsUnixSocket: --app-socket serves the sidecar API
// beside the TCP port, through the same server (the token and the
// instance header apply), with mode 0660, and the file goes at shutdown.
func TestSidecarServesOnItsUnixSocket(t *testing.T) {
	path := socketPath(t)
	ts := startServer(t, func(o *Options) { o.AppSocket, o.AppToken = path, "s3cret" })
	if got := ts.s.Addrs().AppSocket; got != path {
		t.Fatalf("Addrs().AppSocket = %q, want %q", got, path)
	}
	var rep StatusReport
	if err := json.Unmarshal([]byte(httpGet(t, ts, "/api/status")), &rep); err != nil || rep.Node.AppSocket != path {
		t.Fatalf("/api/status app_socket %q (%v), want %q", rep.Node.AppSocket, err, path)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket file: %v, %v; want a socket with mode 0660", fi.Mode(), err)
	}
	app := sidecarpb.NewSidecarServiceClient(mustDial(t, "unix://"+path))
	ctx := ctx5(t)
	if _, err := app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "s/a", Payload: []byte("x")}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("publish on the socket without the token: %v, want UNAUTHENTICATED", err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer s3cret")
	st, err := app.Subscribe(authed, &sidecarpb.SubscribeRequest{Topics: []string{"s/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, 1) // subscription_info
	if _, err := ts.app.Publish(authed, &sidecarpb.PublishRequest{Topic: "s/tcp", Payload: []byte("over tcp")}); err != nil {
		t.Fatal(err)
	}
	var hdr metadata.MD
	if _, err := app.Publish(authed, &sidecarpb.PublishRequest{Topic: "s/unix", Payload: []byte("over the socket")}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get(instanceHeader); len(got) != 1 || got[0] != ts.s.ID() {
		t.Fatalf("instance header on the socket: %v, want %s", got, ts.s.ID())
	}
	if got := recvPayloads(t, st, 2); strings.Join(got, ",") != "over tcp,over the socket" {
		t.Fatalf("subscriber on the socket got %q", got)
	}
	ts.shutdown()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket file after shutdown: %v, want it removed", err)
	}
}

// TestAppSocketTakesItsModeAndOwner: --app-socket-mode and
// --app-socket-owner (numeric ids; the daemon's own need no privilege).
func TestAppSocketTakesItsModeAndOwner(t *testing.T) {
	path := socketPath(t)
	uid, gid := os.Getuid(), os.Getgid()
	startServer(t, func(o *Options) {
		o.AppSocket, o.AppSocketMode, o.AppSocketOwner = path, 0o600, fmt.Sprintf("%d:%d", uid, gid)
	})
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid {
		t.Fatalf("socket owned by %d:%d, want %d:%d", st.Uid, st.Gid, uid, gid)
	}
}

// TestAppSocketOwnerNeedsThePrivilege: giving the socket to another user
// fails at start, naming the flag and why.
func TestAppSocketOwnerNeedsThePrivilege(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may give the socket to anyone")
	}
	o := socketOptions(t, socketPath(t))
	o.AppSocketOwner = "0"
	err := runBriefly(t, o)
	if err == nil || !strings.Contains(err.Error(), "--app-socket-owner") || !strings.Contains(err.Error(), "CAP_CHOWN") {
		t.Fatalf("Run: %v, want an error naming --app-socket-owner and the privilege it needs", err)
	}
}

// TestStaleAppSocketIsReplaced: a socket file left by a daemon that died
// (nobody accepts on it) is replaced.
func TestStaleAppSocketIsReplaced(t *testing.T) {
	path := socketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, as a killed process leaves it
	startServer(t, func(o *Options) { o.AppSocket = path })
	h, err := healthpb.NewHealthClient(mustDial(t, "unix://"+path)).Check(ctx5(t), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health over the replaced socket: %v, %v", h, err)
	}
}

// TestLiveAppSocketOrOtherFileIsRefused: a socket someone accepts on, or a
// file that is not a socket, is left alone and the daemon does not start.
func TestLiveAppSocketOrOtherFileIsRefused(t *testing.T) {
	live := socketPath(t)
	ln, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := runBriefly(t, socketOptions(t, live)); err == nil || !strings.Contains(err.Error(), "--app-socket") || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Run on a live socket: %v, want an error naming --app-socket", err)
	}
	conn, err := net.Dial("unix", live)
	if err != nil {
		t.Fatalf("the live socket was taken away: %v", err)
	}
	conn.Close()

	file := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runBriefly(t, socketOptions(t, file)); err == nil || !strings.Contains(err.Error(), "--app-socket") || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Run on a regular file: %v, want an error naming --app-socket", err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Fatalf("the regular file was touched: %q, %v", b, err)
	}
}

// TestAppPortOffServesOnlyTheSocket: --app-port off opens no TCP port;
// the socket serves alone.
func TestAppPortOffServesOnlyTheSocket(t *testing.T) {
	path := socketPath(t)
	o := socketOptions(t, path)
	o.AppPort = AppPortOff
	s, err := New(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	if a := s.Addrs(); a.App != "" || a.AppSocket != path {
		t.Fatalf("Addrs: App %q, AppSocket %q; want no TCP address and the socket", a.App, a.AppSocket)
	}
	h, err := healthpb.NewHealthClient(mustDial(t, "unix://"+path)).Check(ctx5(t), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health over the socket: %v, %v", h, err)
	}
}

// recvPayloads reads a subscription stream until it has n messages, and
// returns their payloads.
func recvPayloads(t *testing.T, st grpc.ServerStreamingClient[sidecarpb.MessageEvent], n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		if m := ev.GetMessage(); m != nil {
			got = append(got, string(m.GetPayload()))
		}
		for _, m := range ev.GetBatch().GetMessages() {
			got = append(got, string(m.GetPayload()))
		}
	}
	return got
}

// socketOptions are a test daemon's options (loopback, nothing sent) with
// the sidecar socket at path.
func socketOptions(t *testing.T, path string) Options {
	o := DefaultOptions()
	o.McastAddr, o.McastPort = "", 0
	o.Bind, o.MeshPort, o.AppPort, o.HTTPAddr = "127.0.0.1", 0, 0, ""
	o.ShutdownTimeout = 2 * time.Second
	o.AppSocket = path
	return o
}

// runBriefly runs a daemon that is expected to fail at bind and returns
// Run's error; one that starts is stopped, and Run's nil returned.
func runBriefly(t *testing.T, o Options) error {
	t.Helper()
	s, err := New(o, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-s.Ready():
		stop()
		return <-done
	case <-time.After(5 * time.Second):
		t.Fatal("Run neither failed nor started within 5 s")
	}
	return nil
}

// Connections on the app socket get appSocketBufferBytes both ways: in
// full with CAP_NET_ADMIN (root), past net.core.{w,r}mem_max; without it,
// as far as those allow.
func TestAppSocketConnectionsGetLargeBuffers(t *testing.T) {
	ln, err := listenAppSocket(&Options{AppSocket: socketPath(t), AppSocketMode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err := net.Dial("unix", ln.Addr().String()) // the backlog holds it until Accept
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testnet.CheckSocketBuffers(t, c, appSocketBufferBytes)
}
