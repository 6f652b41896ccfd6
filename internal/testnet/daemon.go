package testnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Config is one daemon to start. Zero ports are given fresh ones.
type Config struct {
	Name        string   // for logs: "a", "h2"...
	Cluster     string   // required: tests use their own, so they never mix
	Host        *Host    // run in this namespace; nil: the test's own
	IP          string   // where the test reaches it; default 127.0.0.1 (the host's MgmtIP with Host)
	McastIface  string   // default lo (eth0 with Host)
	McastPort   int      // discovery port; tests share one per cluster
	MeshPort    int      // default: fresh
	AppPort     int      // default: fresh
	HTTPPort    int      // default: fresh
	Args        []string // more flags
	ExpectCrash bool     // the test kills it; do not require a clean exit
	// NoRace runs a daemon built without the race detector even when the
	// tests have it, for a test that measures the daemon's own resources:
	// the detector multiplies its memory several times over.
	NoRace bool
}

// Daemon is a running nexusd.
type Daemon struct {
	t    testing.TB
	cfg  Config
	cmd  *exec.Cmd
	logs *SyncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done

	mu     sync.Mutex
	frozen bool   // stopped by Freeze, not yet thawed; guarded by mu
	status string // its /api/status when the test failed; guarded by mu
	shot   bool   // status was taken; guarded by mu

	App, Mesh, HTTP string // host:port the test reaches it at
}

// Start starts a daemon and waits until it serves (/readyz answers 200).
// Cleanup stops it; if the test failed, its log is printed.
func Start(t testing.TB, cfg Config) *Daemon {
	t.Helper()
	d := Launch(t, cfg)
	d.WaitReady()
	return d
}

// Launch starts a daemon without waiting for it.
func Launch(t testing.TB, cfg Config) *Daemon {
	t.Helper()
	Require(t)
	httpIP := cfg.IP
	if cfg.IP == "" {
		cfg.IP, httpIP = "127.0.0.1", "127.0.0.1"
		if cfg.Host != nil {
			cfg.IP, httpIP = cfg.Host.MgmtIP, "0.0.0.0"
		}
	}
	if cfg.McastIface == "" {
		cfg.McastIface = "lo"
		if cfg.Host != nil {
			cfg.McastIface = "eth0"
		}
	}
	for _, p := range []*int{&cfg.MeshPort, &cfg.AppPort, &cfg.HTTPPort} {
		if *p == 0 {
			*p = Port()
		}
	}
	args := []string{
		"--cluster", cfg.Cluster, "--mcast-iface", cfg.McastIface, "--mcast-port", strconv.Itoa(cfg.McastPort),
		"--mesh-port", strconv.Itoa(cfg.MeshPort), "--app-port", strconv.Itoa(cfg.AppPort),
		"--http-addr", fmt.Sprintf("%s:%d", httpIP, cfg.HTTPPort), "--log-level", "debug",
	}
	if V1Wire() {
		args = append(args, "--mesh-packed=false")
	}
	args = append(args, cfg.Args...)
	bin := Binary(t)
	if cfg.NoRace {
		bin = PlainBinary(t)
	}
	var cmd *exec.Cmd
	if cfg.Host != nil {
		cmd = exec.Command("ip", append([]string{"netns", "exec", cfg.Host.Name, bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	d := &Daemon{t: t, cfg: cfg, cmd: cmd, logs: &SyncBuffer{}, done: make(chan struct{}),
		App:  fmt.Sprintf("%s:%d", cfg.IP, cfg.AppPort),
		Mesh: fmt.Sprintf("%s:%d", cfg.IP, cfg.MeshPort),
		HTTP: fmt.Sprintf("%s:%d", cfg.IP, cfg.HTTPPort)}
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cfg.Name, err)
	}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	launched(t, d)
	t.Cleanup(func() {
		SnapshotIfFailed(t) // before the first of its daemons stops
		d.Stop()
		if t.Failed() {
			t.Logf("--- log of daemon %s (%s) ---\n%s%s", cfg.Name, strings.Join(args, " "), d.logs.String(), d.snapshot())
		}
		forget(t, d)
	})
	return d
}

// SnapshotIfFailed takes, when t has failed, the status of each of its
// daemons still running, once, for their logs: each one's view of the
// others while they are all still there. Daemons' cleanups call it before
// stopping one; a test's own cleanups that change what the daemons hold
// (closing its subscriptions) call it first.
func SnapshotIfFailed(t testing.TB) {
	if !t.Failed() {
		return
	}
	for _, d := range daemonsOf(t) {
		d.snapshot()
	}
}

// running lists each test's daemons not yet stopped by its cleanup.
var running = struct {
	sync.Mutex
	of map[testing.TB][]*Daemon
}{of: map[testing.TB][]*Daemon{}}

func launched(t testing.TB, d *Daemon) {
	running.Lock()
	defer running.Unlock()
	running.of[t] = append(running.of[t], d)
}

func daemonsOf(t testing.TB) []*Daemon {
	running.Lock()
	defer running.Unlock()
	return slices.Clone(running.of[t])
}

func forget(t testing.TB, d *Daemon) {
	running.Lock()
	defer running.Unlock()
	running.of[t] = slices.DeleteFunc(running.of[t], func(o *Daemon) bool { return o == d })
	if len(running.of[t]) == 0 {
		delete(running.of, t)
	}
}

// snapshot takes the daemon's status for the failure log once, and returns
// it.
func (d *Daemon) snapshot() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.shot {
		d.status, d.shot = d.statusForLog(), true
	}
	return d.status
}

// WaitReady waits until the daemon's /readyz answers 200.
func (d *Daemon) WaitReady() {
	d.t.Helper()
	Eventually(d.t, 20*time.Second, d.cfg.Name+" ready", func() error {
		select {
		case <-d.done:
			return Permanent(fmt.Errorf("%s exited: %v\n%s", d.cfg.Name, d.err, d.logs.String()))
		default:
		}
		return d.get("/readyz", nil)
	})
}

// Stop sends SIGTERM and requires a clean exit within 5 s (the daemon's
// shutdown takes at most 4 s, docs/protocol.md §9).
// It is idempotent.
func (d *Daemon) Stop() {
	d.t.Helper()
	d.StopWith(syscall.SIGTERM)
}

// StopWith is Stop with another signal (SIGINT).
func (d *Daemon) StopWith(sig os.Signal) {
	d.t.Helper()
	select {
	case <-d.done:
		d.checkExit()
		return
	default:
	}
	d.thawForStop()
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
		d.checkExit()
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		d.t.Errorf("%s did not exit within 5 s of %s", d.cfg.Name, sig)
	}
}

func (d *Daemon) checkExit() {
	if d.err != nil && !d.cfg.ExpectCrash {
		d.t.Errorf("%s exited with %v", d.cfg.Name, d.err)
	}
	if strings.Contains(d.logs.String(), "WARNING: DATA RACE") {
		d.t.Errorf("%s reported a data race", d.cfg.Name)
	}
}

// Kill ends the daemon at once (SIGKILL), as a crash would.
func (d *Daemon) Kill() {
	d.t.Helper()
	d.cfg.ExpectCrash = true
	_ = d.cmd.Process.Kill()
	<-d.done
}

// Log is everything the daemon has written so far.
func (d *Daemon) Log() string { return d.logs.String() }

// Metrics scrapes /metrics into "name{labels}" -> value, exactly as the
// exposition writes the series (labels in the order given there).
func (d *Daemon) Metrics() (map[string]float64, error) {
	out := map[string]float64{}
	err := d.get("/metrics", func(body io.Reader) error {
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || line[0] == '#' {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			if i < 0 {
				continue
			}
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err == nil {
				out[line[:i]] = v
			}
		}
		return sc.Err()
	})
	return out, err
}

// Metric is one series' value; missing series read as 0.
func (d *Daemon) Metric(series string) float64 {
	d.t.Helper()
	m, err := d.Metrics()
	if err != nil {
		d.t.Fatalf("scraping %s: %v", d.cfg.Name, err)
	}
	return m[series]
}

// Get fetches an admin path and returns its body; non-200 is an error.
func (d *Daemon) Get(path string) (string, error) {
	var b []byte
	err := d.get(path, func(r io.Reader) (err error) { b, err = io.ReadAll(r); return })
	return string(b), err
}

func (d *Daemon) get(path string, read func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.HTTP+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if read == nil {
		return nil
	}
	return read(resp.Body)
}

// statusForLog is the daemon's /api/status (its counters, peers and
// topics) as it was when the test failed, or "" when it has exited or
// does not answer: what a failure's log needs beside the daemon's own.
func (d *Daemon) statusForLog() string {
	select {
	case <-d.done:
		return ""
	default:
	}
	var b bytes.Buffer
	if err := d.get("/api/status", func(r io.Reader) error { _, err := b.ReadFrom(r); return err }); err != nil {
		return ""
	}
	return "--- its /api/status at the failure ---\n" + b.String()
}

// SyncBuffer is a bytes.Buffer safe for a process's writes and the
// test's reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// permanent marks a condition error that waiting will not fix.
type permanent struct{ error }

// Permanent wraps err so Eventually fails at once.
func Permanent(err error) error { return permanent{err} }

// Eventually polls cond every 25 ms until it returns nil, failing t with
// the last error when timeout passes or cond returns a Permanent error.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Within(timeout, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Within polls cond every 25 ms until it returns nil, and returns nil; or
// the last error when timeout passes or cond returns a Permanent error.
// Use it where a test goes on to report what it saw when the condition
// never comes; Eventually where it cannot go on.
func Within(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.error
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Config is what the daemon was started with, ports filled in.
func (d *Daemon) Config() Config { return d.cfg }

// InstanceID is the daemon's instance id, read from its status API; the
// test fails when it cannot be read.
func (d *Daemon) InstanceID() string {
	d.t.Helper()
	body, err := d.Get("/api/status")
	if err != nil {
		d.t.Fatalf("%s status: %v", d.cfg.Name, err)
	}
	var st struct {
		Node struct{ ID string } `json:"node"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Node.ID == "" {
		d.t.Fatalf("%s status: %v: %s", d.cfg.Name, err, body)
	}
	return st.Node.ID
}

// WireEnv names the environment variable that picks the wire the tests
// run on: "v1" starts every daemon with --mesh-packed=false (and tests
// that use the client library keep it on the v1 calls); anything else is
// the default, packed frames where both ends offer them. `make test` runs
// the end-to-end suite both ways.
const WireEnv = "NEXUSD_E2E_WIRE"

// V1Wire reports whether the tests run on the v1 wire (WireEnv=v1).
func V1Wire() bool { return os.Getenv(WireEnv) == "v1" }
