package main

import "testing"

// The exit statuses the daemon promises: 2 for a bad flag, 0 for --help.
// (A running daemon is tested end to end in e2e/.)
func TestExitStatuses(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"--mesh-port", "x"}, 2},
		{[]string{"--log-format=xml"}, 2},
		{[]string{"--app-bind", "0.0.0.0"}, 2},
		{[]string{"--help"}, 0},
	} {
		if got := run(c.args); got != c.want {
			t.Errorf("nexusd %v exits %d, want %d", c.args, got, c.want)
		}
	}
}
