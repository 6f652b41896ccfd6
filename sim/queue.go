package sim

// The world's agenda, an internal/quadheap: events ordered by (time,
// insertion), so events at the same instant run in the order they were
// scheduled, on every run.

type evKind uint8

const (
	evTick       evKind = iota + 1 // a node's NextDeadline came
	evBeacon                       // a multicast beacon reaches every listener
	evRequest                      // a call's request reaches its target
	evResponse                     // a call's answer reaches its caller
	evTimeout                      // a call's CallTimeout ran out
	evStep                         // hand a node an event (credit, local API calls)
	evPushBatch                    // a batch of pushes reaches its target (pushpath.go)
	evPushAnswer                   // a target's answer to a batch reaches its sender
	evAction                       // run a scheduled function (workload, faults)
)

// event is one entry of the agenda; its time is the entry's (and the
// world's clock while it is dispatched).
type event struct {
	kind evKind
	node *simNode
	gen  int // the node's incarnation the event is for
	call *call
	ev   any // state.Event for evStep/evResponse; beacon for evBeacon
	fn   func()
	to   *simNode // evBeacon: the one listener it is for (a replay aimed at one node); nil: all
}
