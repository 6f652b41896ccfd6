package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

func TestLineNamesTheProgramVersionGoAndPlatform(t *testing.T) {
	old := Version
	defer func() { Version = old }()
	Version = "v1.2.3"
	line := Line("nexusd")
	if !strings.HasPrefix(line, "nexusd v1.2.3") || !strings.Contains(line, runtime.Version()) || !strings.HasSuffix(line, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Fatalf("Line = %q", line)
	}
	Version = ""
	if v := Read().Version; v == "" {
		t.Fatalf("without a linked version, Read().Version is empty; want the module's or devel")
	}
}
