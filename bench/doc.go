// Command nexusd-bench measures nexusd side by side with the systems its
// users would otherwise pick, in one run on one machine: an embedded NATS
// server (github.com/nats-io/nats-server/v2, with nats.go) and a raw gRPC
// relay (the same sidecar API with no routing at all: the ceiling any gRPC
// sidecar can reach).
//
// Every measurement runs in a process of its own, and the systems take
// turns, so one warm cache or a noisy neighbour does not favour one system.
// Each figure is the median of several runs with their min and max, and
// its ratio to NATS measured in the same run. Results go to results.json
// and to the table in ../BENCHMARKS.md.
//
// It is its own Go module so the main module does not depend on NATS.
package main
