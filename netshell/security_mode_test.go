package netshell

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// A daemon without a key or TLS files says so once in its log, first in
// /api/status and in nexusd_mesh_security; with a key it says nothing.
func TestNoKeyIsLoud(t *testing.T) {
	for _, c := range []struct {
		name     string
		key      bool
		mode     string
		warnings int
	}{
		{"no key", false, "unauthenticated", 1},
		{"key", true, "cluster-key", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := startServer(t, func(o *Options) {
				if c.key {
					o.ClusterKeyFile = keyFile(t)
				}
			})
			ts.logs.mu.Lock()
			logged := strings.Count(ts.logs.w.String(), "mesh: unauthenticated")
			ts.logs.mu.Unlock()
			if logged != c.warnings {
				t.Errorf("the warning was logged %d times, want %d", logged, c.warnings)
			}
			var rep StatusReport
			raw := httpGet(t, ts, "/api/status")
			if err := json.Unmarshal([]byte(raw), &rep); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(raw, "null") {
				t.Fatalf("/api/status has a null where an empty list belongs:\n%s", raw)
			}
			if rep.Node.Security != c.mode || rep.Node.Authenticated != c.key || len(rep.Node.Warnings) != c.warnings {
				t.Fatalf("/api/status says mesh_security %q, authenticated %v, warnings %q; want %q, %v, %d",
					rep.Node.Security, rep.Node.Authenticated, rep.Node.Warnings, c.mode, c.key, c.warnings)
			}
			if c.warnings > 0 && !strings.HasPrefix(rep.Node.Warnings[0], "mesh: unauthenticated") {
				t.Fatalf("warning %q", rep.Node.Warnings[0])
			}
			metrics := httpGet(t, ts, "/metrics")
			if want := `nexusd_mesh_security{mode="` + c.mode + `"} 1`; !strings.Contains(metrics, want) {
				t.Fatalf("metrics lack %s", want)
			}
			if n := strings.Count(metrics, "nexusd_mesh_security{"); n != 1 {
				t.Fatalf("%d nexusd_mesh_security series, want one", n)
			}
		})
	}
}

func httpGet(t *testing.T, ts *testServer, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + ts.s.Addrs().HTTP + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", path, resp.Status, err)
	}
	return string(b)
}

// The mesh port holds at most --mesh-max-conns connections: one more waits
// until one of them closes.
func TestMeshConnectionsAreCapped(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MeshMaxConns = 2 })
	addr := ts.s.Addrs().Mesh
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr) // says nothing: the server waits for its preface
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	health := healthpb.NewHealthClient(mustDial(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := health.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a third connection was served while two were held: %v", err)
	}
	held[0].Close()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("once a held connection closed, the check still failed: %v", err)
	}
}

// A publish over the payload limit is refused naming --max-payload, and
// counted, whatever its size: not with gRPC's own message-size error.
func TestOversizedPublishNamesTheFlag(t *testing.T) {
	ts := startServer(t, nil)
	for _, size := range []int{2 << 20, 4 << 20, 20 << 20} {
		_, err := ts.app.Publish(ctx5(t), &sidecarpb.PublishRequest{Topic: "big", Payload: make([]byte, size)}, grpc.MaxCallSendMsgSize(64<<20))
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "--max-payload") {
			t.Errorf("publish of %d bytes: %v, want INVALID_ARGUMENT naming --max-payload", size, err)
		}
	}
	if m := httpGet(t, ts, "/metrics"); !strings.Contains(m, `nexusd_rejected_total{reason="payload_too_large"} 3`) {
		t.Errorf("the three refusals are not counted as payload_too_large:\n%s", grepLines(m, "rejected_total"))
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
