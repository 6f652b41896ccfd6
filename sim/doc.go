// Package sim runs many state.Nodes in one goroutine on virtual time, over
// a simulated network with seeded faults: delay, loss, duplication,
// reordering, multicast loss, partitions, crashes, graceful leaves and
// restarts, paused nodes, clock jumps and slow subscribers. One root seed
// derives every random choice, so a run is fully determined by its seed and
// the code, and two runs of one seed give the same trace hash.
//
// The World executes the nodes' effects the way netshell does for real:
// every request effect is completed by exactly one completion event (an
// answer, an error, or a timeout after CallTimeout), subscription streams
// grant credit as their (simulated) clients consume, and beacons fan out
// to every node that can hear them. Checkers watch for duplicates,
// reordering, unreported loss, unbounded queues, diverging retained values,
// a peer that left taken back, and routing that does not converge.
//
// What this package may not do: touch a real clock, a socket, or any
// randomness not derived from the world's seed. It drives state only
// through its exported API.
package sim
