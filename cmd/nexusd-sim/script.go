package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nexusd/nexusd/sim"
)

// script runs a scenario file. It reads both plain scripts (one command
// per line) and the regression suite's datadriven files, whose expected
// output blocks (after ----, up to a blank line) it skips.
func script(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: nexusd-sim script FILE")
		return 2
	}
	f, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "nexusd-sim:", err)
		return 2
	}
	defer f.Close()
	s := sim.NewScript()
	failed := 0
	skipping := false
	sc := bufio.NewScanner(f)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case skipping:
			skipping = line != ""
			continue
		case line == "----":
			skipping = true
			continue
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		}
		out, err := s.Run(line)
		fmt.Fprintf(stdout, "%s:%d: %s\n", args[0], lineNo, line)
		if out != "" {
			fmt.Fprintln(stdout, indent(out))
		}
		switch {
		case errors.Is(err, sim.ErrCheck):
			failed++
			fmt.Fprintf(stdout, "  ^ check failed at line %d\n", lineNo)
		case err != nil:
			fmt.Fprintf(stderr, "%s:%d: %v\n", args[0], lineNo, err)
			return 2
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(stderr, "nexusd-sim:", err)
		return 2
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "%d check(s) failed\n", failed)
		return 1
	}
	return 0
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
