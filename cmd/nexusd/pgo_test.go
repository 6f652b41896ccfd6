package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// The daemon is built with profile-guided optimisation from default.pgo
// (scripts/pgo.sh, make pgo): about 6% less CPU a message on the packed
// path (BENCHMARKS.md). go test builds this package as go build builds the
// daemon, so the test binary says whether the profile was applied.
func TestBuiltWithProfile(t *testing.T) {
	if strings.Contains(os.Getenv("GOFLAGS"), "-pgo=") {
		t.Skip("GOFLAGS chooses the profile: " + os.Getenv("GOFLAGS"))
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build information in this binary")
	}
	for _, s := range bi.Settings {
		if s.Key == "-pgo" {
			if filepath.Base(s.Value) != "default.pgo" {
				t.Fatalf("built with profile %s, want cmd/nexusd/default.pgo", s.Value)
			}
			return
		}
	}
	t.Fatal("built without a profile: cmd/nexusd/default.pgo is missing (make pgo writes it)")
}
