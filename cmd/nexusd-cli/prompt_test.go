package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
)

// terminal runs the CLI on a pseudo-terminal (util-linux script), so
// the prompt runs as it does for a person; the test types and reads the
// screen's text.
type terminal struct {
	t     *testing.T
	in    io.WriteCloser
	out   *testnet.SyncBuffer
	done  chan error
	clean *regexp.Regexp
}

func openTerminal(t *testing.T, history string, args ...string) *terminal {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux) is not installed: it gives the prompt a terminal")
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, script, "-qfec", "stty cols 200 rows 50; exec "+binary(t)+" "+strings.Join(quoted, " "), "/dev/null")
	cmd.Env = append(os.Environ(), "NEXUSD_CLI_HISTORY="+history, "GORACE=halt_on_error=1 atexit_sleep_ms=0", "TERM=xterm")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, in: in, out: &testnet.SyncBuffer{}, done: make(chan error, 1),
		clean: regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]|[\r\x07\x08]`)}
	cmd.Stdout, cmd.Stderr = term.out, term.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { term.done <- cmd.Wait() }()
	t.Cleanup(func() { in.Close() })
	return term
}

// screen is what the terminal printed, without control sequences.
func (term *terminal) screen() string { return term.clean.ReplaceAllString(term.out.String(), "") }

// expect waits until the screen shows want n times.
func (term *terminal) expect(want string, n int) {
	term.t.Helper()
	testnet.Eventually(term.t, 10*time.Second, fmt.Sprintf("the screen shows %q %d times", want, n), func() error {
		if got := strings.Count(term.screen(), want); got < n {
			return fmt.Errorf("%d times; screen:\n%s", got, term.screen())
		}
		return nil
	})
}

func (term *terminal) typ(keys string) {
	term.t.Helper()
	if _, err := io.WriteString(term.in, keys); err != nil {
		term.t.Fatal(err)
	}
}

// TestPromptCompletesAndKeepsHistory: at the prompt, Tab completes
// commands and subcommands in the case typed, the arrow keys recall
// earlier commands, history is saved, and QUIT leaves with status 0;
// without a daemon the prompt says it is not connected.
func TestPromptCompletesAndKeepsHistory(t *testing.T) {
	d := testnet.Start(t, testnet.Config{Name: "d", Cluster: fmt.Sprintf("cli-prompt-%d", testnet.Port()), McastPort: testnet.Port()})
	history := filepath.Join(t.TempDir(), "history")
	term := openTerminal(t, history, hostPort(t, d.App)...)
	prompt := d.App + "> "
	term.expect(prompt, 1)
	term.typ("pin")
	term.expect(prompt+"pin", 1)
	term.typ("\t")
	term.expect(prompt+"ping ", 1)
	term.typ("\r")
	term.expect("PONG", 1)
	term.typ("INFO SE")
	term.expect(prompt+"INFO SE", 1)
	term.typ("\t")
	term.expect(prompt+"INFO SERVER ", 1)
	term.typ("\r")
	term.expect("# Server", 1)
	term.typ("bogus\r")
	term.expect("(error) unknown command 'bogus'", 1)
	term.typ("\x1b[A\x1b[A") // up twice: INFO SERVER again
	term.expect(prompt+"INFO SERVER", 3)
	term.typ("\r")
	term.expect("# Server", 2)
	term.typ("quit\r")
	select {
	case err := <-term.done:
		if err != nil {
			t.Fatalf("the prompt ended with %v; screen:\n%s", err, term.screen())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("QUIT did not end the prompt; screen:\n%s", term.screen())
	}
	b, err := os.ReadFile(history)
	if err != nil || !strings.Contains(string(b), "ping") || !strings.Contains(string(b), "INFO SERVER") || !strings.Contains(string(b), "bogus") {
		t.Fatalf("history %q (%v)", b, err)
	}

	lone := openTerminal(t, "off", "-p", fmt.Sprint(testnet.Port()), "--connect-timeout", "200ms")
	lone.expect("not connected> ", 1)
	lone.typ("ping\r")
	lone.expect("(error) unavailable: cannot connect", 1)
	lone.typ("\x04") // Ctrl-D
	select {
	case err := <-lone.done:
		if err != nil {
			t.Fatalf("Ctrl-D: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Ctrl-D did not end the prompt; screen:\n%s", lone.screen())
	}
}
