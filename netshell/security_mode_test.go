package netshell

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
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
			if err := json.Unmarshal([]byte(httpGet(t, ts, "/api/status")), &rep); err != nil {
				t.Fatal(err)
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
