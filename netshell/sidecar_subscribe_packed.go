package netshell

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/vtcodec"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// Packed subscription frames: at most this many records, and by default
// this many bytes (SubscribePackedRequest.max_frame_bytes sets another).
// Larger frames gain nothing and hold the first message back.
const (
	packedFrameRecords   = 1024
	packedFrameBytes     = 256 << 10
	minPackedFrameBytes  = 1 << 10
	packedFrameSlackSize = 1 << 10 // header room for a frame of one large message
)

// SubscribePacked is Subscribe or ResumeSubscribe with live messages sent
// as packed frames (docs/packed.md). A frame takes what has accumulated
// for the stream when it is sent, so frames grow with the rate and a lone
// message still goes at once. Every other event is the MessageEvent the v1
// stream would send.
func (s *sidecarServer) SubscribePacked(in *sidecarpb.SubscribePackedRequest, stream grpc.ServerStreamingServer[sidecarpb.PackedEvent]) error {
	window, _ := streamSizes(s.o, packedFrameRecords)
	st := newSubStream(s.loop.newID(), window, packedFrameRecords)
	st.windowBytes, st.runs = s.o.StreamWindowBytes, true
	var ev state.Event
	switch {
	case in.GetSubscribe() != nil:
		sub, err := subscribeFromProto(st.handle, window, in.GetSubscribe())
		if err != nil {
			return err
		}
		sub.CreditBytes = st.windowBytes
		sub.ByNumber = true // live messages go as records, named by number
		ev = sub
	case in.GetResume() != nil:
		res, err := resumeFromProto(st.handle, window, in.GetResume())
		if err != nil {
			return err
		}
		res.CreditBytes = st.windowBytes
		res.ByNumber = true
		ev = res
	default:
		return status.Error(codes.InvalidArgument, "SubscribePackedRequest sets neither subscribe nor resume: set one")
	}
	if bypassNode { // never in the daemon (bypass.go)
		if ok, err := bypassServe(stream); ok {
			return err
		}
	}
	maxFrame := int(in.GetMaxFrameBytes())
	switch {
	case maxFrame == 0:
		maxFrame = packedFrameBytes
	case maxFrame < minPackedFrameBytes:
		return status.Errorf(codes.InvalidArgument, "max_frame_bytes %d is below %d: frames that small cost more than they carry; use 0 for the default", maxFrame, minPackedFrameBytes)
	}
	ps := &packedSends{stream: stream}
	fs := &frameSender{maxFrame: min(maxFrame, sidecarMaxRecv(s.o)), counts: &s.metrics.shell, sendFrame: ps.frame, sendEvent: ps.event}
	return s.serveStream(stream.Context(), ps.event, ev, st, fs)
}

// packedSends sends a SubscribePacked stream's events in memory it reuses:
// Send encodes before it returns.
type packedSends struct {
	stream  grpc.ServerStreamingServer[sidecarpb.PackedEvent]
	wrapped sidecarpb.PackedEvent_Event
	out     sidecarpb.PackedEvent
}

func (p *packedSends) event(e *sidecarpb.MessageEvent) error {
	p.wrapped.Event = e
	p.out.Kind = &p.wrapped
	return p.stream.Send(&p.out)
}

// frame sends the encoder's frame as a PackedEvent (field 2, its
// PackedFrame's field 1): its header encoded into a buffer that gRPC
// writes out and frees, then recs, the buffer the records were encoded
// into, as it is (vtcodec.EncodeNestedTail).
func (p *packedSends) frame(enc *packed.Encoder, recs *[]byte) error {
	e, err := vtcodec.EncodeNestedTail(nil, enc.Size(), enc.AppendHeader, recs, 2, 1)
	if err != nil {
		return err
	}
	return p.stream.SendMsg(e)
}

// touchAhead is how many messages ahead of the one it encodes a frame
// sender reads (frameSender.send).
const touchAhead = 4

// frameSender encodes live messages into packed frames, in memory it
// reuses, and hands each frame to sendFrame (a SubscribePacked stream's,
// or a Session's); a message no frame holds goes to sendEvent.
type frameSender struct {
	maxFrame  int
	enc       packed.Encoder
	recs      *[]byte // where enc's records go: a buffer from gRPC's pool, nil once handed over
	ids       packed.IDSplitter
	touched   uint64                                        // what reading ahead read (touchAhead), kept so it is read
	counts    *shellCounters                                // where frames sent are counted; nil: nowhere
	sendFrame func(enc *packed.Encoder, recs *[]byte) error // sends the encoder's frame, whose records are recs, before it returns; recs is then gRPC's
	sendEvent func(*sidecarpb.MessageEvent) error
}

// send sends one frame of the live messages at the head of items and
// returns how many items it took whole; part, when not empty, is the
// first messages of the next item, a run (state.Deliver.More) that did
// not fit the frame whole, which send leaves in items as the rest.
//
// The records go into a buffer from gRPC's pool (fs.recs), which a frame
// that fills a good part of it takes along as it is (handOver). A run's
// records that lie, plain, one after another in the frame they were
// published in go in one copy from there (plainRest).
func (fs *frameSender) send(items []streamItem) (n int, part state.Run, err error) {
	fs.enc.Reset()
	fs.enc.StableStrings = true // the node's messages' strings
	if fs.recs == nil {
		fs.recs = vtcodec.Buffer(min(fs.maxFrame, packedFrameBytes))
	}
	fs.enc.UseRecords(*fs.recs)
	defer fs.enc.UseRecords(nil) // what it holds may be gRPC's after this
	var r packed.Record          // filled in place for each message, on the stack
	j, copied := 0, 0            // j: messages of items[n] taken; copied: records taken as they lay
	for n < len(items) && items[n].live() {
		run := items[n].run
		m := run.At(j)
		alone := false
		if fs.enc.Count() == 0 { // (items[0] whole: a frame starts with an item)
			// A message larger than a frame goes in a frame of its own.
			size := len(m.Payload) + len(m.Topic) + len(m.Source) + len(m.ContentType()) + len(m.Correlation()) + len(m.ReplyTo()) + packedFrameSlackSize
			if m.IDNum == 0 { // else the record carries the number (setRecordID), and ID may not be rendered
				size += len(m.ID)
			}
			alone = size > fs.maxFrame
			fs.enc.Limits = packed.Limits{
				MaxFrameBytes:   max(fs.maxFrame, size),
				MaxRecords:      packedFrameRecords,
				MaxPayloadBytes: max(len(m.Payload), packed.DefaultLimits().MaxPayloadBytes),
			}
		}
		// Ahead of the encoding, read the message a few items on, which
		// the loop wrote on another core: its cache lines arrive while
		// this one is encoded instead of when it is reached.
		if k := n + touchAhead; j == 0 && k < len(items) && items[k].live() {
			a := items[k].first()
			fs.touched += a.Seq + uint64(len(a.Topic))
		}
		// Filled in place: what a message does not set is cleared.
		r.Topic, r.Payload, r.TimestampMs, r.Source, r.Seq = m.Topic, m.Payload, m.TimestampMs, m.Source, m.Seq
		r.ContentType, r.Correlation, r.ReplyTo = "", "", ""
		if x := m.Extras; x != nil {
			r.ContentType, r.Correlation, r.ReplyTo = x.ContentType, x.Correlation, x.ReplyTo
		}
		if r.PrevSeq = m.Seq - 1; m.Seq == 0 {
			r.PrevSeq = 0
		}
		setRecordID(&r, &m.Envelope, &fs.ids)
		if err := fs.enc.Append(&r); err != nil {
			if fs.enc.Count() > 0 {
				break // full; or it gets a frame of its own next
			}
			// The node checked every field already, so only a bug could
			// make a message no frame holds; it still reaches the client.
			err = fs.sendEvent(&sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_Message{Message: messageToProto(m)}})
			if run.Len() == 1 {
				return 1, state.Run{}, err
			}
			part, items[0].run = run.Split(1)
			return 0, part, err
		}
		j++
		if !alone && j < run.Len() {
			k := fs.plainRest(run, j-1)
			j += k
			copied += k
		}
		if j == run.Len() {
			n, j = n+1, 0
		}
		if alone {
			break
		}
	}
	if j > 0 {
		part, items[n].run = items[n].run.Split(j)
	}
	if c := fs.counts; c != nil { // before: the client may read the frame as soon as it is sent
		c.subFrames.Add(1)
		c.subFrameRecords.Add(uint64(fs.enc.Count()))
		if copied > 0 {
			c.subRunRecords.Add(uint64(copied))
		}
	}
	return n, part, fs.sendFrame(&fs.enc, handOver(&fs.enc, &fs.recs))
}

// handOver returns the buffer enc's records go out in, to be sent with the
// frame (vtcodec.EncodeNestedTail), after which it is gRPC's: *recs, the
// buffer enc filled, or a copy of a few records (vtcodec.HandOver).
func handOver(enc *packed.Encoder, recs **[]byte) *[]byte {
	return vtcodec.HandOver(enc.Records(), recs)
}
