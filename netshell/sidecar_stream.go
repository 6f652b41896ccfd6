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
	window      int  // credit: events the stream may hold unsent
	windowBytes int  // and payload plus topic bytes (0: not counted)
	maxBatch    int  // live messages per MessageEvent; 1 = no batches
	runs        bool // it sends live messages as packed records, and takes a run as one item (state.Deliver.More)
	box         *mailbox[streamItem]
	owner       *sessionSub // set when the stream is a Session's: its box has no wake of its own
}

// streamItem is one event the loop hands a subscription stream. A live
// message, nearly every item, is its state.Run alone: the message, or a
// run of them for a stream that takes runs (subStream.runs). Items are
// copied into the loop's run, the mailbox and the sender's buffer, so 24
// bytes instead of a whole state.Out each time is worth a few percent of
// a busy daemon's CPU. Every other event, and the stream's end, is a
// rareItem.
type streamItem struct {
	run  state.Run // live messages (state.OutMessage) when rare is nil
	rare *rareItem
}

type rareItem struct {
	out state.Out
	end bool
	err error // with end: why the node refused or ended the stream
}

// outItem is the item for o. A live message is its Msg alone: the node
// sets nothing else on one (state.Out).
func outItem(o state.Out) streamItem {
	if o.Kind == state.OutMessage && o.Msg != nil {
		return streamItem{run: state.OneMessage(o.Msg)}
	}
	return streamItem{rare: &rareItem{out: o}}
}

func endItem(err error) streamItem { return streamItem{rare: &rareItem{end: true, err: err}} }

// ended reports whether the item ends the stream; endErr is why.
func (it *streamItem) ended() bool   { return it.rare != nil && it.rare.end }
func (it *streamItem) endErr() error { return it.rare.err }
func (it *streamItem) live() bool    { return it.rare == nil && it.run.Len() > 0 }

// first is a live item's message, the first of its run.
func (it *streamItem) first() *state.Message { return it.run.At(0) }
func (it *streamItem) kind() state.OutKind {
	if it.rare == nil {
		return state.OutMessage
	}
	return it.rare.out.Kind
}

// message is the item's message, nil for events that carry none.
func (it *streamItem) message() *state.Message {
	if it.rare == nil {
		return it.first()
	}
	return it.rare.out.Msg
}

// out is the item as the node's Out, for an event other than a live
// message or the end.
func (it *streamItem) out() *state.Out {
	if it.rare == nil {
		return &state.Out{Kind: state.OutMessage, Msg: it.first()}
	}
	return &it.rare.out
}

func newSubStream(handle uint64, window, maxBatch int) *subStream {
	return &subStream{handle: handle, window: window, maxBatch: maxBatch, box: newMailbox[streamItem]()}
}

// put, end and putMany are called by the loop.
func (st *subStream) put(o state.Out) { st.putMany([]streamItem{outItem(o)}) }
func (st *subStream) end(err error)   { st.putMany([]streamItem{endItem(err)}) }

func (st *subStream) putMany(items []streamItem) {
	if st.owner != nil {
		st.owner.arrived(items)
		return
	}
	st.box.putMany(items)
}

func (st *subStream) grantEvery() int { return max(st.window/4, 1) }

// serveStream opens the subscription (ev is its Subscribed or Resumed) and
// sends its events until the node ends it, the client goes away or the
// daemon stops. Credit goes back to the node as sends complete, a quarter
// window at a time; a client that reads slowly makes Send block, so credit
// stops and the node queues, drops or blocks by the subscription's policy.
//
// With frames set, live messages go out as packed frames, each as many as
// the frame holds of those waiting; every other event goes through send.
func (s *sidecarServer) serveStream(ctx context.Context, send func(*sidecarpb.MessageEvent) error, ev state.Event, st *subStream, frames *frameSender) error {
	// Credit is granted for events sent, in order, once nothing here
	// reads them again (settle included): the node may use their
	// messages' memory again.
	switch e := ev.(type) {
	case *state.Subscribed:
		e.ReportsSent = true
	case *state.Resumed:
		e.ReportsSent = true
	}
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
			if buf[i].ended() {
				return statusOf(buf[i].endErr())
			}
			n, part, err := sendHead(buf[i:], st.maxBatch, send, frames, &enc)
			if err != nil {
				s.streamGone(st)
				return rpcError(err)
			}
			events, bytes := s.settle(buf[i:i+n], part, nowMs)
			owedBytes += bytes
			i += n
			if owed += events; owed >= st.grantEvery() || (st.windowBytes > 0 && owedBytes >= st.windowBytes/4) {
				if err := s.loop.postControl(ctx, &state.CreditGranted{Stream: st.handle, N: owed, Bytes: owedBytes, Sent: owed}); err != nil {
					s.streamGone(st)
					return rpcError(err)
				}
				owed, owedBytes = 0, 0
			}
		}
	}
}

// sendHead sends what waits at the head of items: live messages as one
// packed frame (frames set) or one batch (maxBatch above 1), or else one
// event. It returns how many items it took whole, and part: the first
// messages of the next item, a run only some of which the frame took
// (frameSender.send), which it leaves there as the rest. It takes at
// least one item or part.
func sendHead(items []streamItem, maxBatch int, send func(*sidecarpb.MessageEvent) error, frames *frameSender, enc *eventEncoder) (int, state.Run, error) {
	it := &items[0]
	switch {
	case !it.live():
		return 1, state.Run{}, send(outToProto(it.out()))
	case frames != nil:
		return frames.send(items)
	case maxBatch > 1: // (no runs: a stream that takes them has frames)
		if n := liveRun(items, maxBatch); n > 1 {
			return n, state.Run{}, send(enc.batch(items[:n]))
		}
	}
	return 1, state.Run{}, send(enc.message(it.first()))
}

// settle takes note of items and part just sent (sendHead): the delivery
// latency of the live messages among them, and how many events they were
// and their payload and topic bytes, which it returns (the credit they
// held).
func (s *sidecarServer) settle(items []streamItem, part state.Run, nowMs int64) (events, bytes int) {
	lat := latencyRuns{h: s.metrics.deliverLatency, nowMs: nowMs}
	run := func(r state.Run) { // a run shares one timestamp (state.Deliver.More)
		events += r.Len()
		bytes += r.Bytes()
		lat.addN(r.At(0).TimestampMs, uint64(r.Len()))
	}
	for j := range items {
		it := &items[j]
		if it.live() {
			run(it.run)
			continue
		}
		events++
		if m := it.message(); m != nil {
			bytes += len(m.Payload) + len(m.Topic)
		}
	}
	if part.Len() > 0 {
		run(part)
	}
	lat.flush()
	return events, bytes
}

// liveRun counts the live messages at the head of items, up to limit and
// maxBatchEventBytes of payload.
func liveRun(items []streamItem, limit int) int {
	n, bytes := 0, 0
	for n < len(items) && n < limit && items[n].live() {
		if bytes += len(items[n].first().Payload); n > 0 && bytes > maxBatchEventBytes {
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
		fillMessage(&e.msgs[j], items[j].first())
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
