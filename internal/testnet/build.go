package testnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// build is one build of cmd/nexusd, made at most once per test run.
type build struct {
	once sync.Once
	path string
	err  error
}

var (
	dirOnce sync.Once
	binDir  string // holds every build; removed when the tests end
	dirErr  error

	asTests build // with the race detector when the tests have it
	plain   build // without it
)

// Binary builds cmd/nexusd once per test run (with the race detector when
// the tests have it) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	return asTests.get(t, "nexusd", raceEnabled)
}

// PlainBinary builds cmd/nexusd once per test run without the race
// detector, and returns its path.
func PlainBinary(t testing.TB) string {
	t.Helper()
	return plain.get(t, "nexusd-plain", false)
}

func (b *build) get(t testing.TB, name string, race bool) string {
	t.Helper()
	b.once.Do(func() {
		dirOnce.Do(func() { binDir, dirErr = os.MkdirTemp("", "nexusd-e2e-") })
		if b.err = dirErr; b.err != nil {
			return
		}
		b.path = filepath.Join(binDir, name)
		// Without the daemon's profile (cmd/nexusd/default.pgo): tests do
		// not need it, and building with it would compile every
		// dependency again, minutes of CPU on a 2-core CI host.
		args := []string{"build", "-pgo=off", "-o", b.path}
		if race {
			args = append(args, "-race")
		}
		cmd := exec.Command(goTool(), append(args, "github.com/nexusd/nexusd/cmd/nexusd")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building nexusd (race detector %v): %v\n%s", race, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

func removeBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}
