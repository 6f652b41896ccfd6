// Package netshell binds one state.Node to real sockets: UDP multicast and
// unicast beacons (discovery), the gRPC mesh server and client (state
// fetches, ordered batched pushes, probes and resends), the gRPC sidecar
// server applications talk to, and the HTTP admin endpoint (metrics, health,
// pprof and a status page).
//
// One goroutine, the loop, owns the node. It feeds it events (beacons, RPC
// arrivals and results, credits, ticks at NextDeadline) and carries out the
// effects it returns by handing them to other goroutines. Blocking I/O
// happens only on those other goroutines, which report back as events; the
// loop itself never blocks on the network, never waits for a goroutine that
// may be waiting for it, and never posts to its own input.
//
// What this package may not do: hold protocol state of its own (membership,
// routing, queues, numbering live in state, so the simulator and the daemon
// behave alike), read the node from any goroutine but the loop, or let proto
// types past convert.go. Clocks and timers go through an injected
// github.com/benbjohnson/clock, so the loop runs on a mock clock in tests.
package netshell
