package client

import (
	"sync"
	"time"
)

// State is the state of a client's connection to its daemon.
type State int

const (
	// StateConnecting: the first connection is being made.
	StateConnecting State = iota
	// StateConnected: the connection is up.
	StateConnected
	// StateDisconnected: the connection was lost; reconnection follows.
	StateDisconnected
	// StateReconnecting: an attempt to connect again is under way.
	StateReconnecting
	// StateFailed: reconnection gave up after WithMaxRetries attempts;
	// calls and subscriptions end with ErrUnavailable. Final.
	StateFailed
	// StateClosed: Close was called. Final.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateReconnecting:
		return "reconnecting"
	case StateFailed:
		return "failed"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// StateChange is one change of a client's connection state. A
// reconnection reports StateReconnecting once per attempt (From and To
// are then both StateReconnecting, and Attempt counts up).
type StateChange struct {
	From, To State
	Attempt  int       // with StateReconnecting and StateFailed: the attempt, counted from 1 since the connection was last up
	Err      error     // why, when known: the last connection error (Disconnected, Reconnecting, Failed)
	Time     time.Time // when the client saw it
}

// stateBox holds a client's state and wakes waiters on every change.
type stateBox struct {
	mu      sync.Mutex
	state   State
	changed chan struct{} // closed and replaced at every change
}

func newStateBox() *stateBox { return &stateBox{changed: make(chan struct{})} }

// get returns the state and a channel closed at its next change.
func (b *stateBox) get() (State, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state, b.changed
}

// set moves to s and reports the previous state; a final state never
// changes again (ok is false then, and when s repeats a state other than
// StateReconnecting).
func (b *stateBox) set(s State) (prev State, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	prev = b.state
	if prev == StateClosed || (prev == StateFailed && s != StateClosed) || (prev == s && s != StateReconnecting) {
		return prev, false
	}
	b.state = s
	close(b.changed)
	b.changed = make(chan struct{})
	return prev, true
}

// dispatcher runs handlers one at a time, in the order they were posted,
// on its own goroutine, so a handler never blocks the client and may call
// the client freely.
type dispatcher struct {
	mu     sync.Mutex
	queue  []func()
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newDispatcher() *dispatcher {
	d := &dispatcher{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *dispatcher) post(f func()) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, f)
	d.mu.Unlock()
	d.signal()
}

func (d *dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// close lets the handlers already posted run, then stops the goroutine.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.signal()
}

func (d *dispatcher) run() {
	defer close(d.done)
	var batch []func()
	for range d.wake {
		for {
			d.mu.Lock()
			batch, d.queue = d.queue, batch[:0]
			closed := d.closed
			d.mu.Unlock()
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			for i, f := range batch {
				f()
				batch[i] = nil
			}
		}
	}
}
