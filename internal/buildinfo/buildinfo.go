// Package buildinfo says which build of NexusD is running: the version
// set at link time (make image: -X .../buildinfo.Version=...), else the
// module version, and the commit and Go version the toolchain recorded.
// Both nexusd --version and nexusd-cli --version print Line. It reads
// only what the binary carries.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is set by the linker for release builds; empty otherwise.
var Version string

// Info is what a build says about itself.
type Info struct {
	Version  string // Version, the module's version, or "devel"
	Commit   string // the VCS revision, 12 characters, "+dirty" when modified; "" when unknown
	Time     string // the commit's time, RFC 3339; "" when unknown
	Go       string // runtime.Version()
	Platform string // GOOS/GOARCH
}

// Read returns this binary's build information.
func Read() Info {
	in := Info{Version: Version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	// A pseudo-version (v0.0.0-date-commit) only repeats the commit.
	if ok && in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" && !strings.HasPrefix(bi.Main.Version, "v0.0.0-") {
		in.Version = bi.Main.Version
	}
	if in.Version == "" {
		in.Version = "devel"
	}
	if !ok {
		return in
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = s.Value[:min(12, len(s.Value))]
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && in.Commit != "" {
		in.Commit += "+dirty"
	}
	return in
}

// Line is the one line --version prints for program: its name, version,
// commit and time when known, Go version and platform.
func Line(program string) string {
	in := Read()
	s := fmt.Sprintf("%s %s", program, in.Version)
	if in.Commit != "" {
		s += " (commit " + in.Commit
		if in.Time != "" {
			s += ", " + in.Time
		}
		s += ")"
	}
	return s + ", " + in.Go + ", " + in.Platform
}
