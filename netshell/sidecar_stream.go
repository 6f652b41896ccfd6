package netshell

import (
	"context"

	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// maxBatchEventBytes caps the payload packed into one MessageEvent.batch,
// so a batch of large messages stays well inside the gRPC message limit.
const maxBatchEventBytes = 1 << 20

// subStream is one subscription stream as the loop sees it: a mailbox the
// loop fills with Deliver effects and, last, the EndStream. The node never
// delivers more than the credit the stream was given, so the mailbox never
// holds more than window events.
type subStream struct {
	handle      uint64
	window      int // credit: events the stream may hold unsent
	windowBytes int // and payload plus topic bytes (0: not counted)
	maxBatch    int // live messages per MessageEvent; 1 = no batches
	box         *mailbox[streamItem]
}

type streamItem struct {
	out state.Out
	end bool
	err error // with end: why the node refused or ended the stream
}

func newSubStream(handle uint64, window, maxBatch int) *subStream {
	return &subStream{handle: handle, window: window, maxBatch: maxBatch, box: newMailbox[streamItem]()}
}

// put and end are called by the loop.
func (st *subStream) put(o state.Out) { st.box.put(streamItem{out: o}) }
func (st *subStream) end(err error)   { st.box.put(streamItem{end: true, err: err}) }

func (st *subStream) putMany(items []streamItem) { st.box.putMany(items) }

func (st *subStream) grantEvery() int { return max(st.window/4, 1) }
func (st *subStream) batching() bool  { return st.maxBatch > 1 }

// serveStream opens the subscription (ev is its Subscribed or Resumed) and
// sends its events until the node ends it, the client goes away or the
// daemon stops. Credit goes back to the node as sends complete, a quarter
// window at a time; a client that reads slowly makes Send block, so credit
// stops and the node queues, drops or blocks by the subscription's policy.
//
// With frames set, live messages go out as packed frames, each as many as
// the frame holds of those waiting; every other event goes through send.
func (s *sidecarServer) serveStream(ctx context.Context, send func(*sidecarpb.MessageEvent) error, ev state.Event, st *subStream, frames *frameSender) error {
	if err := s.loop.post(ctx, input{ev: ev, stream: st}); err != nil {
		return rpcError(err)
	}
	var (
		buf       []streamItem
		owed      int // events sent since credit was last granted
		owedBytes int // and their payload and topic bytes
		enc       eventEncoder
	)
	for {
		select {
		case <-st.box.wake:
		case <-ctx.Done():
			s.streamGone(st)
			return rpcError(ctx.Err())
		case <-s.loop.stopping:
			return rpcError(errStopped)
		case <-s.loop.done:
			return rpcError(errStopped)
		}
		buf = st.box.take(buf)
		nowMs := s.loop.clk.Now().UnixMilli()
		for i := 0; i < len(buf); {
			it := &buf[i]
			if it.end {
				return statusOf(it.err)
			}
			n, event := 1, (*sidecarpb.MessageEvent)(nil)
			var err error
			switch {
			case it.out.Kind == state.OutMessage && frames != nil:
				n, err = frames.send(buf[i:])
			case it.out.Kind == state.OutMessage && st.batching():
				if n = liveRun(buf[i:], st.maxBatch); n > 1 {
					event = enc.batch(buf[i : i+n])
				} else {
					event = enc.message(it.out.Msg)
				}
			case it.out.Kind == state.OutMessage:
				event = enc.message(it.out.Msg)
			default:
				event = outToProto(&it.out)
			}
			if event != nil {
				err = send(event)
			}
			if err != nil {
				s.streamGone(st)
				return rpcError(err)
			}
			if it.out.Kind == state.OutMessage {
				for j := i; j < i+n; j++ {
					s.metrics.deliverLatency.Observe(float64(max(nowMs-buf[j].out.Msg.TimestampMs, 0)) / 1000)
				}
			}
			for j := i; j < i+n; j++ {
				if m := buf[j].out.Msg; m != nil {
					owedBytes += len(m.Payload) + len(m.Topic)
				}
			}
			i += n
			if owed += n; owed >= st.grantEvery() || (st.windowBytes > 0 && owedBytes >= st.windowBytes/4) {
				if err := s.loop.postControl(ctx, &state.CreditGranted{Stream: st.handle, N: owed, Bytes: owedBytes}); err != nil {
					s.streamGone(st)
					return rpcError(err)
				}
				owed, owedBytes = 0, 0
			}
		}
	}
}

// liveRun counts the live messages at the head of items, up to limit and
// maxBatchEventBytes of payload.
func liveRun(items []streamItem, limit int) int {
	n, bytes := 0, 0
	for n < len(items) && n < limit && !items[n].end && items[n].out.Kind == state.OutMessage {
		if bytes += len(items[n].out.Msg.Payload); n > 0 && bytes > maxBatchEventBytes {
			break
		}
		n++
	}
	return n
}

// streamGone tells the node the client went away, so the subscription ends.
func (s *sidecarServer) streamGone(st *subStream) {
	// Not postControl: the close must not overtake the stream's own
	// Subscribed, or the subscription would outlive its stream.
	_ = s.loop.post(context.Background(), input{ev: &state.StreamClosed{Stream: st.handle}})
}

// eventEncoder builds the stream's live-message events in memory it
// reuses: Send encodes a message before it returns (the server registers
// no stats handler that could read it later), so the next event can
// overwrite the last. A busy stream then allocates nothing per message.
type eventEncoder struct {
	msgs  []sidecarpb.Message
	ptrs  []*sidecarpb.Message
	frame sidecarpb.MessageBatch
	one   sidecarpb.MessageEvent_Message
	many  sidecarpb.MessageEvent_Batch
	event sidecarpb.MessageEvent
}

func (e *eventEncoder) message(m *state.Message) *sidecarpb.MessageEvent {
	e.grow(1)
	fillMessage(&e.msgs[0], m)
	e.one.Message = &e.msgs[0]
	e.event.Event = &e.one
	return &e.event
}

func (e *eventEncoder) batch(items []streamItem) *sidecarpb.MessageEvent {
	e.grow(len(items))
	e.ptrs = e.ptrs[:0]
	for j := range items {
		fillMessage(&e.msgs[j], items[j].out.Msg)
		e.ptrs = append(e.ptrs, &e.msgs[j])
	}
	e.frame.Messages = e.ptrs
	e.many.Batch = &e.frame
	e.event.Event = &e.many
	return &e.event
}

func (e *eventEncoder) grow(n int) {
	if len(e.msgs) < n {
		e.msgs = make([]sidecarpb.Message, n)
	}
}
