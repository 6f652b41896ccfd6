// Package state is the whole NexusD protocol as a plain value: peer registry
// and failure detection, hash-triggered gossip, the routing table, retained
// messages, per-topic sequence numbers and replay rings, subscriptions with
// their bounded queues, backpressure, TTL and mesh loss repair.
//
// A Node is driven by its owner: Step(now, Event) feeds it something that
// happened, Tick(now) lets time pass, and both return the Effects the owner
// must carry out (send a beacon, fetch a peer's state, push a message,
// deliver to a subscriber...). Every request effect carries an id and is
// completed by exactly one event with that id; the node never waits.
//
// What this package may not do: any I/O, read a clock, start a goroutine,
// take a lock, or draw randomness from anywhere but the seeded source in its
// Config. Wherever iteration order changes behaviour it walks sorted keys or
// insertion-ordered lists, so one seed and one sequence of events always give
// the same effects. It does not import the generated proto code either: the
// shell converts at its edge. A test (purity_test.go) enforces all of this.
//
// A Node is not safe for concurrent use; one goroutine owns it.
package state
