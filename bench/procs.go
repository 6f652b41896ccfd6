package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runtimeSettings are the Go runtime settings of a server process.
type runtimeSettings struct {
	MaxProcs int    // GOMAXPROCS
	GOGC     string // GOGC: a percentage or off
	MemLimit string // GOMEMLIMIT: a size such as 1GiB, or off
}

// serverRuntime is what every server process gets, whatever the system
// (nexusd daemons, NATS servers, the relay), so none runs with more
// threads or a laxer collector than another. The defaults are what the
// daemon picks for itself when GOGC and GOMEMLIMIT are unset
// (cmd/nexusd: GOGC 300, a 1 GiB soft limit) and all cores: NATS gets the
// same. Load generators run with Go's defaults. nexusd-bench --gogc,
// --gomemlimit and --gomaxprocs set others.
var serverRuntime = runtimeSettings{MaxProcs: runtime.NumCPU(), GOGC: "300", MemLimit: "1GiB"}

func (r runtimeSettings) env() []string {
	return []string{"GOMAXPROCS=" + strconv.Itoa(r.MaxProcs), "GOGC=" + r.GOGC, "GOMEMLIMIT=" + r.MemLimit}
}

func (r runtimeSettings) String() string {
	return fmt.Sprintf("GOMAXPROCS=%d, GOGC=%s, GOMEMLIMIT=%s", r.MaxProcs, r.GOGC, r.MemLimit)
}

// check refuses settings the Go runtime would ignore or misread.
func (r runtimeSettings) check() error {
	if r.MaxProcs < 1 {
		return fmt.Errorf("GOMAXPROCS %d: want at least 1", r.MaxProcs)
	}
	if _, err := strconv.Atoi(r.GOGC); err != nil && r.GOGC != "off" {
		return fmt.Errorf("GOGC %q: want a percentage or off", r.GOGC)
	}
	if r.MemLimit == "" {
		return fmt.Errorf("GOMEMLIMIT is empty: want a size such as 1GiB, or off")
	}
	return nil
}

// proc is a server process this measurement started.
type proc struct {
	cmd  *exec.Cmd
	name string
	log  *os.File
}

// startProc starts path with args; env, NAME=value entries, comes last in
// its environment.
func startProc(name, path string, env []string, args ...string) (*proc, error) {
	log, err := os.CreateTemp("", "nexusd-bench-"+name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(append(os.Environ(), serverRuntime.env()...), env...) // later entries win
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the bench
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return &proc{cmd: cmd, name: name, log: log}, nil
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	p.log.Close()
	os.Remove(p.log.Name())
}

// tail returns the end of the process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// rssBytes is a process's resident set size.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// freePorts asks the kernel for n unused loopback TCP ports.
func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(d time.Duration, what string, cond func() bool) error {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return fmt.Errorf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
