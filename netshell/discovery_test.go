package netshell

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
)

// Seed names are looked up again every resolve interval, so a seed whose
// address changes (a Kubernetes headless service's pods) is followed; an
// address literal is used as it is, and a failed lookup is retried.
func TestSeedNamesAreResolvedAgainEveryInterval(t *testing.T) {
	clk := clock.NewMock()
	var mu sync.Mutex
	answers := map[string][]string{"peers.svc": {"10.0.0.1"}}
	d := &discovery{log: slog.New(slog.NewTextHandler(io.Discard, nil)), clk: clk, resolve: 30 * time.Second,
		seedNames: []string{"peers.svc:5670", "10.9.9.9:5670", "gone.svc:5670"},
		lookupIP: func(_ context.Context, host string) ([]netip.Addr, error) {
			mu.Lock()
			defer mu.Unlock()
			var out []netip.Addr
			for _, a := range answers[host] {
				out = append(out, netip.MustParseAddr(a))
			}
			if out == nil {
				return nil, &lookupError{host}
			}
			return out, nil
		}}
	seeds := func() []string {
		var out []string
		if p := d.seeds.Load(); p != nil {
			for _, a := range *p {
				out = append(out, a.String())
			}
		}
		return out
	}
	waitSeeds := func(want ...string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			got := seeds()
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("seeds %v, want %v", got, want)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.resolveSeeds(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitSeeds("10.0.0.1:5670", "10.9.9.9:5670")

	mu.Lock()
	answers["peers.svc"] = []string{"10.0.0.2", "10.0.0.3"}
	answers["gone.svc"] = []string{"10.0.0.4"}
	mu.Unlock()
	clk.Add(29 * time.Second)
	time.Sleep(10 * time.Millisecond) // room for a wrong early lookup to show
	if got := seeds(); !slices.Equal(got, []string{"10.0.0.1:5670", "10.9.9.9:5670"}) {
		t.Fatalf("looked up again before the interval: %v", got)
	}
	clk.Add(time.Second)
	waitSeeds("10.0.0.2:5670", "10.0.0.3:5670", "10.9.9.9:5670", "10.0.0.4:5670")
}

type lookupError struct{ host string }

func (e *lookupError) Error() string { return "no such host " + e.host }
