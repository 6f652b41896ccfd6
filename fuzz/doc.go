// Package fuzz holds the fuzz targets: topic and pattern validation;
// beacons and every mesh and sidecar request as they arrive off the wire,
// fed to a daemon without sockets (netshell.Harness: the discovery receive
// path, and the gRPC servers with the options, interceptors and handlers
// the daemon registers); and random event sequences into a state.Node.
// The seed corpora under testdata/ are committed, so `go test ./fuzz`
// replays them on every run; `make fuzz` fuzzes each target for a while.
//
// This package has no code of its own outside its tests.
package fuzz
