// Command nexusd-sim runs the NexusD protocol core in the simulator: a
// randomized swarm with seeded faults and every checker on, or a scenario
// script. Everything it does is determined by its arguments: the same seed
// gives the same run and the same trace hash.
//
//	nexusd-sim swarm --nodes 200 --seed 7 --duration 30s --faults default [--json] [--write-scenario FILE]
//	nexusd-sim script FILE
package main

import (
	"fmt"
	"io"
	"os"
)

// Where the commands write; tests replace them.
var stdout, stderr io.Writer = os.Stdout, os.Stderr

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "swarm":
		return swarm(args[1:])
	case "script":
		return script(args[1:])
	case "-h", "--help", "help":
		usage()
		return 0
	}
	fmt.Fprintf(stderr, "nexusd-sim: unknown command %q: want swarm or script\n", args[0])
	return 2
}

func usage() {
	fmt.Fprint(stderr, `usage:
  nexusd-sim swarm --nodes N --seed S --duration D [--faults PLAN] [--json] [--write-scenario FILE]
      a randomized run with faults, then heal; exit 1 when a checker fails
      PLAN: none, default, heavy, or key=value,... (loss, dup, reorder, mcast-loss,
            delay=MIN..MAX, partitions, cuts, isolations, crashes, leaves, pauses, clock-jumps,
            slow, reconnects)
  nexusd-sim script FILE
      run a scenario file line by line; exit 1 when a check fails
`)
}
