// Package scenarios is the readable regression suite: each file under
// testdata/ drives the simulator (package sim) with the scenario language,
// one command per block, and holds the canonical output it must produce.
// A file opens with a comment stating the property it shows. `go test
// ./scenarios` replays them; `make rewrite` regenerates the expected
// output for a person to review before committing.
package scenarios
