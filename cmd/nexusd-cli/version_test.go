package main

import (
	"runtime"
	"strings"
	"testing"

	"github.com/nexusd/nexusd/internal/buildinfo"
)

// --version prints the same build line nexusd does, under its own name.
func TestVersionPrintsTheBuild(t *testing.T) {
	r := ok(t, "--version")
	if got, want := strings.TrimSpace(r.stdout), buildinfo.Line("nexusd-cli"); got != want || !strings.Contains(got, runtime.Version()) {
		t.Fatalf("nexusd-cli --version printed %q, want %q", got, want)
	}
}
