// Package fuzz holds the fuzz targets: topic and pattern validation, beacon
// and every mesh and sidecar request message as they arrive off the wire
// (decoded, then handed to the validation the daemon uses), and random
// event sequences into a state.Node. The seed corpora under testdata/ are
// committed, so `go test ./fuzz` replays them on every run; `make fuzz`
// fuzzes each target for a while.
//
// This package has no code of its own outside its tests.
package fuzz
