package netshell

import "sync"

// mailbox is a queue one side fills without ever blocking and the other
// drains. The loop puts into mailboxes (stream events, answers), so a put
// must not block; what bounds a mailbox is the protocol around it: credit
// for subscription streams, in-flight windows for request streams.
type mailbox[T any] struct {
	mu    sync.Mutex
	items []T
	wake  chan struct{} // has a value while items may be waiting
}

func newMailbox[T any]() *mailbox[T] { return &mailbox[T]{wake: make(chan struct{}, 1)} }

func (m *mailbox[T]) put(v T) {
	m.mu.Lock()
	m.items = append(m.items, v)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// putMany queues vs in order, with one lock and one wake-up.
func (m *mailbox[T]) putMany(vs []T) {
	m.mu.Lock()
	m.items = append(m.items, vs...)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// add queues vs in order without a wake-up, and reports whether the
// mailbox was empty: the caller then wakes the reader itself (a Session's
// subscriptions share one wake, see sidecar_session.go).
func (m *mailbox[T]) add(vs []T) (first bool) {
	m.mu.Lock()
	first = len(m.items) == 0
	m.items = append(m.items, vs...)
	m.mu.Unlock()
	return first
}

// take returns everything waiting, in order. spare, the slice a previous
// take returned, is cleared and reused.
func (m *mailbox[T]) take(spare []T) []T {
	clear(spare)
	m.mu.Lock()
	out := m.items
	m.items = spare[:0]
	m.mu.Unlock()
	return out
}

// answer makes a mailbox of effects a replier for request streams.
func (m *mailbox[T]) answer(e T) { m.put(e) }
