package client

import (
	"bytes"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/mem"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// Borrowed messages (BorrowPayloads). A packed frame's live messages are
// lent to the application together: the frame's bytes stay in the buffer
// gRPC received them into, its messages' Payloads are slices of it, and
// the Message values, their ids and their correlation ids live in a lease
// the subscription reuses. Each message delivered holds the lease once,
// and the run goroutine holds it while it delivers; when the last hold is
// released the buffer goes back to gRPC's pool and the lease to the
// subscription, for a later frame. A message never released is simply
// collected with its frame: forgetting Release costs the reuse, nothing
// else.

// BorrowPayloads lends the application the live messages of packed frames
// instead of giving them: a message and its Payload are valid until the
// application calls its Release, and the client may reuse both at once
// after that. Receiving then allocates nothing per message or per frame,
// and the payload is never copied out of the buffer it arrived in. An
// application that keeps a payload past Release must copy it first.
//
// Only live messages of packed frames are lent (WithPacked, the default).
// Retained, replayed and v1 messages are the application's as always, and
// their Release does nothing, so a borrowing reader may call Release on
// every message it takes.
func BorrowPayloads() SubscribeOption {
	return func(o *subscribeOptions) error { o.borrow = true; return nil }
}

// Release hands a borrowed message back to the client (BorrowPayloads):
// neither m nor m.Payload may be used after it. It does nothing for a
// message that was not lent, or was released already, so it is always
// safe to call once on every message a subscription delivers. A copy of
// the Message value shares its loan: release the message or the copy,
// not both.
func (m *Message) Release() {
	if l := m.lease; l != nil {
		m.lease = nil
		l.drop()
	}
}

// lease is one frame's lent messages and what they point into.
type lease struct {
	refs atomic.Int32
	home *leases
	buf  mem.Buffer // the received buffer the frame is in; nil: the frame is the GC's
	msgs []Message
	text []byte // the messages' ids and correlation ids, back to back
}

// hold counts one more user of l.
func (l *lease) hold() { l.refs.Add(1) }

// drop ends one use; the last gives the buffer back and l to its home.
func (l *lease) drop() {
	if l.refs.Add(-1) != 0 {
		return
	}
	if l.buf != nil {
		l.buf.Free()
		l.buf = nil
	}
	l.home.put(l)
}

// leases is a subscription's free leases, shared by its run goroutine
// (get) and whichever goroutines release messages (put).
type leases struct{ free chan *lease }

// maxFreeLeases bounds the leases a subscription keeps for reuse: enough
// for the frames an application holds while it works through them.
const maxFreeLeases = 16

func newLeases() *leases { return &leases{free: make(chan *lease, maxFreeLeases)} }

// get returns a lease held once, by its caller, with n messages zeroed.
func (p *leases) get(n int) *lease {
	var l *lease
	select {
	case l = <-p.free:
	default:
		l = &lease{home: p}
	}
	if cap(l.msgs) < n {
		l.msgs = make([]Message, n)
	} else {
		l.msgs = l.msgs[:n]
		clear(l.msgs)
	}
	l.text = l.text[:0]
	l.refs.Store(1)
	return l
}

func (p *leases) put(l *lease) {
	select {
	case p.free <- l:
	default: // enough kept: this one is the GC's
	}
}

// held is a received event decoded in place (internal/vtcodec.Holder):
// a frame of live messages (keep) keeps the buffer gRPC received it in,
// for a borrowing subscription's lease or for the session to copy from;
// any other event is decoded again into memory of its own, and the buffer
// freed.
type held[T any, PT interface {
	*T
	UnmarshalVTUnsafe([]byte) error
	UnmarshalVT([]byte) error
}] struct {
	ev   PT
	buf  mem.Buffer
	keep func(PT) bool // whether ev is a frame of live messages; it may copy out what else of ev is kept
}

func (h *held[T, PT]) UnmarshalHeld(buf mem.Buffer) error {
	h.ev, h.buf = PT(new(T)), nil
	if err := h.ev.UnmarshalVTUnsafe(buf.ReadOnlyData()); err != nil {
		return err // the codec frees buf
	}
	if h.keep(h.ev) {
		h.buf = buf
		return nil
	}
	h.ev = PT(new(T))
	if err := h.ev.UnmarshalVT(buf.ReadOnlyData()); err != nil {
		return err // the codec frees buf: freeing it here too would free it twice
	}
	buf.Free()
	return nil
}

// heldPacked is a SubscribePacked event (stream.recv), heldSession a
// Session event (session.run).
type (
	heldPacked  = held[sidecarpb.PackedEvent, *sidecarpb.PackedEvent]
	heldSession = held[sidecarpb.SessionEvent, *sidecarpb.SessionEvent]
)

func packedFrame(ev *sidecarpb.PackedEvent) bool {
	_, ok := ev.GetKind().(*sidecarpb.PackedEvent_Messages)
	return ok
}

func sessionFrame(ev *sidecarpb.SessionEvent) bool {
	if _, ok := ev.GetKind().(*sidecarpb.SessionEvent_Messages); !ok {
		return false
	}
	ev.SubscriptionId = strings.Clone(ev.SubscriptionId) // kept by the session's maps
	return true
}

// ownFrame makes a held frame of live messages the GC's: the frame is
// copied out of buf, which is freed.
func ownFrame(f *sidecarpb.PackedFrame, buf mem.Buffer) {
	if f != nil {
		f.Frame = bytes.Clone(f.Frame)
	}
	buf.Free()
}
