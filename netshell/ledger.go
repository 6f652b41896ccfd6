package netshell

import (
	"errors"
	"time"

	"github.com/nexusd/nexusd/state"
)

// errCallTimeout completes a call its transport did not answer in time.
var errCallTimeout = errors.New("no answer within the call timeout")

// ledger holds every request effect under way (fetch, probe, push,
// resend) and guarantees each is completed exactly once: by its transport,
// or by the ledger when the transport has not answered within the timeout,
// after which a late answer is dropped. Transports have their own, shorter
// deadlines; the ledger is the backstop that keeps the node's promise.
type ledger struct {
	timeout time.Duration
	open    map[uint64]ledgerCall
	// order lists calls by start time; since every call gets the same
	// timeout, it is also deadline order. Finished calls leave it lazily.
	order []ledgerEntry
	head  int
}

type callKind uint8

const (
	callFetch callKind = iota + 1
	callProbe
	callResend
)

type ledgerCall struct {
	kind    callKind
	started time.Duration // loop monotonic time
}

type ledgerEntry struct {
	call     uint64
	deadline time.Duration
}

func newLedger(timeout time.Duration) *ledger {
	return &ledger{timeout: timeout, open: make(map[uint64]ledgerCall)}
}

func (l *ledger) start(call uint64, kind callKind, now time.Duration) {
	l.open[call] = ledgerCall{kind: kind, started: now}
	l.order = append(l.order, ledgerEntry{call: call, deadline: now + l.timeout})
}

// finish records a completion; false means the call is unknown or was
// already completed (timed out), so the completion must be dropped.
func (l *ledger) finish(call uint64) (ledgerCall, bool) {
	c, ok := l.open[call]
	if ok {
		delete(l.open, call)
	}
	return c, ok
}

// next is the earliest deadline of an open call, or state.Never.
func (l *ledger) next() time.Duration {
	for l.head < len(l.order) {
		e := l.order[l.head]
		if _, ok := l.open[e.call]; ok {
			return e.deadline
		}
		l.pop()
	}
	return state.Never
}

// expire completes, with errCallTimeout, every open call past its deadline.
func (l *ledger) expire(now time.Duration, out []state.Event) []state.Event {
	for l.head < len(l.order) && l.order[l.head].deadline <= now {
		e := l.order[l.head]
		l.pop()
		c, ok := l.finish(e.call)
		if !ok {
			continue
		}
		switch c.kind {
		case callFetch:
			out = append(out, &state.FetchCompleted{Call: e.call, Err: errCallTimeout})
		case callProbe:
			out = append(out, &state.ProbeCompleted{Call: e.call, Err: errCallTimeout})
		case callResend:
			out = append(out, &state.ResendCompleted{Call: e.call, Err: errCallTimeout})
		}
	}
	return out
}

func (l *ledger) pop() {
	l.order[l.head] = ledgerEntry{}
	l.head++
	// Compact once the consumed prefix dominates, so the slice stays about
	// as long as the calls under way.
	if l.head > 1024 && l.head*2 > len(l.order) {
		n := copy(l.order, l.order[l.head:])
		clear(l.order[n:])
		l.order = l.order[:n]
		l.head = 0
	}
}

// completionCall is the call id a completion event answers.
func completionCall(ev state.Event) (uint64, bool) {
	switch e := ev.(type) {
	case *state.FetchCompleted:
		return e.Call, true
	case *state.ProbeCompleted:
		return e.Call, true
	case *state.ResendCompleted:
		return e.Call, true
	}
	return 0, false
}
