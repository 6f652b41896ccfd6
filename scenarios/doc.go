// Package scenarios is the readable regression suite: each file under
// testdata/ drives the simulator (package sim) with the scenario language,
// one command per block, and holds the canonical output it must produce.
// A file opens with a comment stating the property it shows. `go test
// ./scenarios` replays each twice: as written, and as clients on the
// packed RPCs would drive it (every publish in a frame, every
// subscription by number: sim.Script.Packed), against the same expected
// output; the few lines that differ there, and why, are in
// scenarios_test.go. `make rewrite` regenerates the expected output from
// the first run, for a person to review before committing.
package scenarios
