package testnet

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The daemon as a process: stopping it without ending it (a machine that
// froze, a process swapped out or held by a debugger) and reading its
// memory. A daemon on a Host runs under `ip netns exec`, which execs it,
// so the process started is the daemon in both cases.

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Freeze stops the daemon (SIGSTOP): it keeps its sockets but does
// nothing, so its peers hear no beacon and get no answer, until Thaw.
// Stop thaws it first, so a test that fails while it is frozen still ends
// it cleanly.
func (d *Daemon) Freeze() {
	d.t.Helper()
	d.signal(syscall.SIGSTOP, true)
}

// Thaw lets a frozen daemon run on (SIGCONT).
func (d *Daemon) Thaw() {
	d.t.Helper()
	d.signal(syscall.SIGCONT, false)
}

func (d *Daemon) signal(sig syscall.Signal, frozen bool) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("%s: sending %s: %v", d.cfg.Name, sig, err)
	}
	d.frozen = frozen
}

// thawForStop lets a frozen daemon run, so it can handle the signal that
// stops it.
func (d *Daemon) thawForStop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.frozen {
		_ = d.cmd.Process.Signal(syscall.SIGCONT)
		d.frozen = false
	}
}

// RSS is the daemon's resident set size in bytes (VmRSS in
// /proc/<pid>/status).
func (d *Daemon) RSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", d.PID()))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		// "VmRSS:	  123456 kB"
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: VmRSS line %q: %v", d.cfg.Name, sc.Text(), err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no VmRSS in /proc/%d/status (has it exited?)", d.cfg.Name, d.PID())
}
