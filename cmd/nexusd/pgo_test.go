package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"testing"
)

// The daemon is built with profile-guided optimisation from default.pgo,
// which go build applies by itself to a main package that has one
// (scripts/pgo.sh, make pgo): about 6% less CPU a message on the packed
// path (BENCHMARKS.md). The tests build without it (make test passes
// -pgo=off), so this checks the file: there, and a CPU profile of this
// daemon's own code.
func TestProfileForTheBuild(t *testing.T) {
	raw, err := os.ReadFile("default.pgo")
	if err != nil {
		t.Fatalf("%v: make pgo writes it", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("default.pgo is not a pprof profile (gzip): %v", err)
	}
	p, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("default.pgo: %v", err)
	}
	for _, want := range []string{"cpu", "nanoseconds", "github.com/nexusd/nexusd/state.(*Node).Step", "github.com/nexusd/nexusd/netshell."} {
		if !bytes.Contains(p, []byte(want)) {
			t.Errorf("default.pgo names no %q: not a CPU profile of this daemon", want)
		}
	}
}
