package client

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/vtcodec"
)

// sendFrame encodes what is queued, as far as the stream's window and
// the frame's limits allow, into one frame and sends it. It reports
// waiting when the window has no room.
func (p *Publisher) sendFrame(st *pubStream, sd *sender) (waiting bool, err error) {
	// Messages stay at the head of the queue while they are encoded, so
	// they count as pending and unsettled throughout: only this goroutine
	// takes from the head, Publish adds at the tail.
	p.mu.Lock()
	room := uint64(0)
	if total := st.base + uint64(st.sent.len()); st.limit > total {
		room = st.limit - total
	}
	n := min(uint64(p.queue.len()), room, uint64(p.o.batch))
	sd.items = append(sd.items[:0], p.queue.all()[:n]...)
	p.mu.Unlock()
	if n == 0 {
		return true, nil
	}
	sd.enc.Reset()
	sd.enc.StableStrings = true // topics are the application's strings, which Go never rewrites
	if sd.recs == nil {
		sd.recs = vtcodec.Buffer(packedFrameBytes)
	}
	sd.enc.UseRecords(*sd.recs)
	sd.bad, sd.why = sd.bad[:0], sd.why[:0]
	var r packed.Record
	used := 0 // items taken into the frame or refused
	for i := range sd.items {
		sd.items[i].record(&r)
		size := len(r.Topic) + len(r.Payload) + len(r.ContentType) + len(r.Correlation) + len(r.ReplyTo) + 24
		if sd.enc.Count() > 0 && sd.enc.Size()+size > packedFrameBytes {
			break
		}
		if err := sd.enc.Append(&r); err != nil {
			if errors.Is(err, packed.ErrFrameFull) {
				break
			}
			// No frame can hold it (a content type or correlation id over
			// the daemon's limits, invalid UTF-8): it fails by its number,
			// as the daemon would fail it on PublishStream.
			sd.bad = append(sd.bad, i)
			sd.why = append(sd.why, err)
		}
		used++
	}
	sd.items = sd.items[:used]
	p.mu.Lock()
	bad := 0 // into sd.bad
	for i := range sd.items {
		if bad < len(sd.bad) && sd.bad[bad] == i {
			p.failLocked(&sd.items[i], refusal{err: wrapErr("publish", status.Error(codes.InvalidArgument, sd.why[bad].Error()))})
			bad++
			continue
		}
		st.sent.push(sd.items[i])
	}
	p.queue.drop(used)
	if len(sd.bad) > 0 {
		p.settledLocked()
	}
	p.mu.Unlock()
	clear(sd.items)
	if sd.enc.Count() == 0 {
		return false, nil
	}
	err = sendEncoded(st, sd)
	if sd.enc.Size() > 4*packedFrameBytes {
		// A frame of one huge message: its buffers do not stay with the
		// Publisher.
		sd.frame.Frame, sd.enc = nil, packed.Encoder{Limits: sd.enc.Limits}
	}
	return false, err
}

// A Publisher asks for lazy acks on PublishPacked (docs/packed.md): the
// daemon acks when a quarter of its window has been processed since its last
// ack, when a message failed, and when asked with a frame of no records.
// That spares a write and a wake-up on each side per frame at low rates.
// The sender asks when a caller waits for settlements (Flush, Close, a
// Publish held by MaxPending). A daemon that does not know the header acks
// every frame anyway, and ignores a frame of no records.
const (
	packedAcksHeader = "nexusd-acks"
	packedAcksLazy   = "lazy"
)

// maxUnacked is the most messages a Publisher has sent on PublishPacked
// and not seen acknowledged, whatever credit the daemon gives (a daemon
// offers twice this once it acks). The Publisher keeps each such message
// until it is settled, and fails it as in doubt if the stream breaks; and
// where its application also subscribes in the same process and reads
// more slowly than it publishes, as the benchmark's
// local-1to1-client-library does, more in flight only piled messages up
// in the daemon: that row ran 6-13% slower using the daemon's whole
// window, and as fast as before held to this (BENCHMARKS.md, "Since the
// run of 10:10").
const maxUnacked = packed.InitialWindow

// takeAskAck reports whether a caller asked for an ack that st must ask
// the daemon for: it has messages sent and not settled.
func (p *Publisher) takeAskAck(st *pubStream) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.askAck || p.queue.len() > 0 {
		return false // (what is queued goes first: the ack is asked after it)
	}
	p.askAck = false
	return st.sent.len() > 0
}

// askForAck sends a frame of no records: the daemon acks once it has
// processed every message sent before it.
func (p *Publisher) askForAck(st *pubStream, sd *sender) error {
	sd.enc.Reset()
	return sendEncoded(st, sd)
}

// sendEncoded sends the frame sd.enc holds.
func sendEncoded(st *pubStream, sd *sender) error {
	if vtcodec.Active() {
		// The header is encoded into a buffer gRPC writes out and frees,
		// and the records go after it in the buffer they were encoded
		// into, which gRPC frees too: the frame's bytes are not copied
		// into a frame, then into gRPC's buffer.
		var frame *vtcodec.Encoded
		var err error
		if sd.enc.Count() == 0 { // asks for an ack (askForAck)
			frame, err = vtcodec.EncodeNested(nil, sd.enc.Size(), sd.enc.AppendFrame, 1)
		} else {
			tail := vtcodec.HandOver(sd.enc.Records(), &sd.recs)
			frame, err = vtcodec.EncodeNestedTail(nil, sd.enc.Size(), sd.enc.AppendHeader, tail, 1)
			sd.enc.UseRecords(nil) // the records' buffer may be gRPC's now
		}
		if err != nil {
			return err
		}
		return st.pk.SendMsg(frame)
	}
	// Another codec: the buffer is reused for the next frame, as the
	// codec has encoded the message into one of its own before Send
	// returns.
	sd.frame.Frame = sd.enc.AppendFrame(sd.frame.Frame[:0])
	return st.pk.Send(&sd.frame)
}

// receivePacked reads PublishPacked's acks: each settles messages, and
// moves the window the sender waits on.
func (p *Publisher) receivePacked(st *pubStream) error {
	var prev uint64 // the previous ack's accepted
	var fs []packed.Failure
	for {
		m, err := st.pk.Recv()
		if err != nil {
			return err
		}
		fs = fs[:0]
		for _, f := range m.GetFailures() {
			fs = append(fs, packed.Failure{Index: f.GetIndex(), Code: packed.Code(f.GetCode()), Retry: f.GetRetry(), Reason: f.GetReason()})
		}
		ack := packed.Ack{Accepted: m.GetAccepted(), Window: m.GetWindow(), Failures: fs}
		p.mu.Lock()
		if err := ack.Check(prev, st.base+uint64(st.sent.len())); err != nil {
			p.mu.Unlock()
			// A daemon that miscounts cannot be trusted to have settled
			// anything right: the stream's unsettled messages fail as in
			// doubt, and the next stream starts afresh.
			st.cancel()
			return status.Errorf(codes.Internal, "the daemon's acknowledgement is inconsistent: %v", err)
		}
		prev = ack.Accepted
		st.acked = true
		reason := ""
		for _, f := range ack.Failures {
			if f.Reason != "" {
				reason = f.Reason // an empty reason repeats the one before it
			}
			code := codes.Code(f.Code)
			if code == codes.OK {
				code = codes.Unknown // a failure is never OK
			}
			st.ahead[f.Index] = refusal{err: wrapErr("publish", status.Error(code, reason)), retry: f.Retry}
		}
		p.settleLocked(st, ack.Accepted)
		limit := min(ack.Limit(), ack.Accepted+maxUnacked)
		grew := limit > st.limit
		st.limit = limit
		p.mu.Unlock()
		if grew {
			select {
			case st.credit <- struct{}{}:
			default:
			}
		}
	}
}
