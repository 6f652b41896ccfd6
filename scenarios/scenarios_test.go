package scenarios

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/nexusd/nexusd/sim"
)

// TestScenarios runs every file in testdata/. Rewrite the expected output
// with `go test ./scenarios -rewrite` (make rewrite); a check that fails
// fails the test either way.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			s := sim.NewScript()
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				out, err := s.Run(commandLine(d))
				switch {
				case errors.Is(err, sim.ErrCheck):
					// A scenario states what holds: a failed check is a
					// failure, even if the file expects its output.
					t.Errorf("%s: check failed: %s", d.Pos, out)
				case err != nil:
					t.Fatalf("%s: %s: %v", d.Pos, d.Cmd, err)
				}
				return out + "\n"
			})
			// Whatever a file checks, a broken safety property or invariant
			// seen on the way (every step runs the nodes' invariant checks)
			// fails it.
			if w := s.World(); w != nil {
				for _, v := range w.Violations("") {
					t.Errorf("%s: %s", path, v)
				}
			}
		})
	}
}

// commandLine rebuilds the command as written from datadriven's parse.
func commandLine(d *datadriven.TestData) string {
	parts := []string{d.Cmd}
	for _, a := range d.CmdArgs {
		switch len(a.Vals) {
		case 0:
			parts = append(parts, a.Key)
		default:
			for _, v := range a.Vals {
				parts = append(parts, a.Key+"="+v)
			}
		}
	}
	return strings.Join(parts, " ")
}
