package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
)

func TestMain(m *testing.M) {
	code := testnet.Main(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// binary builds nexusd-cli once per test run (with the race detector when
// the tests have it) and returns its path.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "nexusd-cli-test-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "nexusd-cli")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		out, err := exec.Command(goTool, append(args, "github.com/nexusd/nexusd/cmd/nexusd-cli")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building nexusd-cli: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// result is one finished run of the CLI.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// cliCommand prepares a run of the CLI with no history file.
func cliCommand(t testing.TB, ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(os.Environ(), "NEXUSD_CLI_HISTORY=off", "GORACE=halt_on_error=1 atexit_sleep_ms=0")
	return cmd
}

// cli runs the CLI to its end (within 30 s) with stdin.
func cliIn(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := cliCommand(t, ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nexusd-cli %v: %v", args, err)
	}
	if strings.Contains(r.stderr, "WARNING: DATA RACE") {
		t.Fatalf("nexusd-cli %v reported a data race:\n%s", args, r.stderr)
	}
	return r
}

func cli(t testing.TB, args ...string) result {
	t.Helper()
	return cliIn(t, "", args...)
}

// ok runs the CLI and requires exit 0.
func ok(t testing.TB, args ...string) result {
	t.Helper()
	r := cli(t, args...)
	if r.code != 0 {
		t.Fatalf("nexusd-cli %v: %s", args, r)
	}
	return r
}

// jsonDoc runs the CLI with --json first and decodes its one document.
func jsonDoc(t testing.TB, v any, args ...string) result {
	t.Helper()
	r := cli(t, append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil || strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 {
		t.Fatalf("nexusd-cli --json %v: not one JSON document (%v): %s", args, err, r)
	}
	return r
}

// proc is a CLI running in the background, its stdout read line by line.
type proc struct {
	t     testing.TB
	cmd   *exec.Cmd
	lines chan string
	errb  *testnet.SyncBuffer
	done  chan struct{}
	code  atomic.Int32
}

func start(t testing.TB, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := cliCommand(t, ctx, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, lines: make(chan string, 1000), errb: &testnet.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			p.code.Store(int32(ee.ExitCode()))
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// line is the process's next line of output.
func (p *proc) line(timeout time.Duration) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("output ended; stderr:\n%s", p.errb.String())
		}
		return l
	case <-time.After(timeout):
		p.t.Fatalf("no output within %s; stderr:\n%s", timeout, p.errb.String())
	}
	return ""
}

// wait waits for the process to end and returns its exit status.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		if strings.Contains(p.errb.String(), "WARNING: DATA RACE") {
			p.t.Fatalf("data race:\n%s", p.errb.String())
		}
		return int(p.code.Load())
	case <-time.After(timeout):
		p.t.Fatalf("still running after %s; stderr:\n%s", timeout, p.errb.String())
	}
	return -1
}

func (p *proc) interrupt() { _ = p.cmd.Process.Signal(syscall.SIGINT) }
