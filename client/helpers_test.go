package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testnet"
)

func TestMain(m *testing.M) { os.Exit(testnet.Main(m)) }

var clusterSeq atomic.Int32

// cluster names a cluster and a discovery port no other test uses.
func cluster(t testing.TB) (string, int) {
	return fmt.Sprintf("client-%d-%d", os.Getpid(), clusterSeq.Add(1)), testnet.Port()
}

// daemon starts one daemon in a cluster of its own.
func daemon(t testing.TB, args ...string) *testnet.Daemon {
	t.Helper()
	c, port := cluster(t)
	return testnet.Start(t, testnet.Config{Name: "d", Cluster: c, McastPort: port, Args: args})
}

// restart starts a new run of a daemon on the same ports, after Kill.
func restart(t testing.TB, d *testnet.Daemon) *testnet.Daemon {
	t.Helper()
	cfg := d.Config()
	cfg.Name, cfg.ExpectCrash = cfg.Name+"'", false
	return testnet.Start(t, cfg)
}

// onV1 makes dial's clients use the v1 calls only (WithPacked(false)),
// for TestTheV1Path; onStreams a packed stream per subscription
// (WithSession(false)), for TestThePackedStreamPath. Tests are not
// parallel.
var onV1, onStreams bool

// dial connects a client, closed at cleanup.
func dial(t testing.TB, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	if onV1 {
		opts = append([]client.Option{client.WithPacked(false)}, opts...)
	}
	if onStreams {
		opts = append([]client.Option{client.WithSession(false)}, opts...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// recv reads n messages within timeout.
func recv(t testing.TB, s *client.Subscription, n int, timeout time.Duration) []*client.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := make([]*client.Message, 0, n)
	for len(out) < n {
		m, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// quiet checks that no message arrives for d.
func quiet(t testing.TB, s *client.Subscription, d time.Duration) {
	t.Helper()
	select {
	case m, ok := <-s.C():
		if ok {
			t.Fatalf("unexpected message %s %q (seq %d, %s)", m.Topic, m.Payload, m.Sequence, m.Kind)
		}
	case <-time.After(d):
	}
}

func payloads(prefix string, from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%04d", prefix, i))
	}
	return out
}

func publishAll(t testing.TB, c *client.Client, topic string, ps []string) {
	t.Helper()
	for _, p := range ps {
		if _, err := c.Publish(ctxT(t, 10*time.Second), topic, []byte(p)); err != nil {
			t.Fatalf("publish %s to %s: %v", p, topic, err)
		}
	}
}

// checkPayloads requires exactly want, in order.
func checkPayloads(t testing.TB, got []*client.Message, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i, m := range got {
		if string(m.Payload) != want[i] {
			t.Fatalf("message %d: %q, want %q (a loss, a duplicate or a reordering)", i, m.Payload, want[i])
		}
	}
}

// checkSequences requires sequence numbers rising by one from first.
func checkSequences(t testing.TB, got []*client.Message, first int64) {
	t.Helper()
	for i, m := range got {
		if m.Sequence != first+int64(i) {
			t.Fatalf("message %d (%q): sequence %d, want %d", i, m.Payload, m.Sequence, first+int64(i))
		}
	}
}

// recorder collects what handlers report, for a test to wait on.
type recorder struct {
	mu       sync.Mutex
	gaps     []client.Gap
	warnings []client.BackpressureWarning
	states   []client.StateChange
	failures []client.PublishFailure
}

func (r *recorder) gap(g client.Gap) { r.mu.Lock(); r.gaps = append(r.gaps, g); r.mu.Unlock() }
func (r *recorder) warning(w client.BackpressureWarning) {
	r.mu.Lock()
	r.warnings = append(r.warnings, w)
	r.mu.Unlock()
}
func (r *recorder) state(s client.StateChange) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
}
func (r *recorder) failure(f client.PublishFailure) {
	r.mu.Lock()
	r.failures = append(r.failures, f)
	r.mu.Unlock()
}

func (r *recorder) Gaps() []client.Gap {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.gaps)
}

func (r *recorder) Warnings() []client.BackpressureWarning {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.warnings)
}

func (r *recorder) Failures() []client.PublishFailure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failures)
}

// States lists the states reported, in order.
func (r *recorder) States() []client.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]client.State, len(r.states))
	for i, s := range r.states {
		out[i] = s.To
	}
	return out
}

// waitState waits until the recorder has seen state s at least n times.
func (r *recorder) waitState(t testing.TB, s client.State, n int, timeout time.Duration) {
	t.Helper()
	testnet.Eventually(t, timeout, fmt.Sprintf("state %s seen %d times", s, n), func() error {
		seen := 0
		for _, x := range r.States() {
			if x == s {
				seen++
			}
		}
		if seen < n {
			return fmt.Errorf("states so far: %v", r.States())
		}
		return nil
	})
}

// --- goroutine leaks ---

// goroutines lists the stacks of every goroutine by id.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		header, _, _ := bytes.Cut(g, []byte("\n"))
		fields := strings.Fields(string(header)) // goroutine 17 [chan receive]:
		if len(fields) >= 2 && fields[0] == "goroutine" {
			out[fields[1]] = string(g)
		}
	}
	return out
}

// leakCheck notes the goroutines running now; the function it returns
// fails t if goroutines of the client or gRPC started since are still
// running within a few seconds (they end asynchronously, so it waits for
// them with a deadline).
func leakCheck(t testing.TB) func() {
	t.Helper()
	before := goroutines()
	return func() {
		t.Helper()
		var leaked []string
		testnet.Eventually(t, 5*time.Second, "no goroutine left behind", func() error {
			leaked = leaked[:0]
			for id, stack := range goroutines() {
				if _, old := before[id]; old {
					continue
				}
				if strings.Contains(stack, "nexusd/nexusd/client.") || strings.Contains(stack, "google.golang.org/grpc") {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) > 0 {
				return fmt.Errorf("%d goroutines still running, first:\n%s", len(leaked), leaked[0])
			}
			return nil
		})
	}
}

// --- a TCP proxy whose connections the test can cut ---

// proxy forwards TCP connections to a target. Cut drops them as a broken
// network would; Block refuses new ones until Unblock.
type proxy struct {
	t       testing.TB
	ln      net.Listener
	target  string
	mu      sync.Mutex
	blocked bool
	pairs   []*pipePair
	wg      sync.WaitGroup
}

type pipePair struct {
	down, up net.Conn    // the client's side and the daemon's
	silent   atomic.Bool // cut on the client's side only: leave the daemon's side alone
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut(true)
		p.wg.Wait()
	})
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		blocked := p.blocked
		p.mu.Unlock()
		if blocked {
			down.Close()
			continue
		}
		up, err := net.Dial("tcp4", p.target)
		if err != nil {
			down.Close()
			continue
		}
		pp := &pipePair{down: down, up: up}
		p.mu.Lock()
		p.pairs = append(p.pairs, pp)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(pp, down, up)
		go p.pipe(pp, up, down)
	}
}

// pipe copies one direction; when it ends, both sides close (as a reset
// would), unless the pair was cut silently.
func (p *proxy) pipe(pp *pipePair, dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	if !pp.silent.Load() {
		pp.down.Close()
		pp.up.Close()
	}
}

// Cut breaks every connection on the client's side; with daemonToo the
// daemon's side is closed as well (the daemon notices at once), without
// it the daemon's side stays open and silent (it would notice only after
// its keepalive, 40 s).
func (p *proxy) Cut(daemonToo bool) {
	p.mu.Lock()
	pairs := p.pairs
	p.pairs = nil
	p.mu.Unlock()
	for _, pp := range pairs {
		if !daemonToo {
			pp.silent.Store(true)
			p.t.Cleanup(func() { pp.up.Close() })
		}
		pp.down.Close()
		if daemonToo {
			pp.up.Close()
		}
	}
}

func (p *proxy) Block(on bool) {
	p.mu.Lock()
	p.blocked = on
	p.mu.Unlock()
}

// isKind reports whether err matches kind and carries a gRPC status.
func isKind(err, kind error) bool {
	var e *client.Error
	return errors.Is(err, kind) && errors.As(err, &e) && e.Status != nil
}
