package netshell

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/pushstream"
	"github.com/nexusd/nexusd/internal/vtcodec"
)

// errUnpackable breaks a PushPacked stream on a push no packed frame can
// hold; the link pushes it again on PushMessageBatchStream.
var errUnpackable = errors.New("push cannot be sent in a packed frame")

// keptFrameBytes is the most frame buffer a link keeps between frames: an
// exceptional large message does not leave every link holding its size.
const keptFrameBytes = 512 << 10

// lacksPacked waits, before anything is sent on a new PushPacked stream,
// for the peer's response headers. A daemon sends them at once (the mesh
// server's withInstance); a peer without PushPacked (v1, or a daemon built
// before it) ends the stream without any, then says UNIMPLEMENTED: the
// link can move to PushMessageBatchStream with no push failed. The wait is
// one round trip when a stream opens, bounded by CallTimeout.
func (s *pushStream) lacksPacked() (bool, error) {
	k := s.k
	t := k.m.clk.AfterFunc(k.m.o.CallTimeout, s.cancel)
	hdr, err := s.packed.Header()
	if !t.Stop() {
		return false, fmt.Errorf("peer did not answer a new push stream within %s", k.m.o.CallTimeout)
	}
	if err != nil || hdr != nil {
		return false, err
	}
	// No headers: the stream has ended, and Recv says why.
	if _, err = s.packed.Recv(); status.Code(err) == codes.Unimplemented {
		return true, nil
	}
	if err == nil {
		err = errors.New("peer answered a push stream without headers")
	}
	return false, err
}

// sendPacked sends items as packed frames: one, unless they pass a frame's
// limits. A push no frame can hold (a field past the limits every node
// keeps, or no source or id, which no node of ours makes) breaks the
// stream, and the link moves to PushMessageBatchStream, whose receiver
// judges each message on its own.
func (s *pushStream) sendPacked(items []pushstream.Item[outPush]) error {
	k := s.k
	s.startFrame()
	defer func() { // holds no payload, and no buffer gRPC has, until the next batch
		k.rec = packed.Record{}
		k.enc.UseRecords(nil)
	}()
	for i := range items {
		if j := i + touchAhead; j < len(items) { // as frameSender.send does
			k.touched += items[j].V.msg.SourceSeq + uint64(len(items[j].V.msg.Topic))
		}
		err := packRecord(&k.rec, &items[i].V, &k.split)
		if err == nil {
			if err = k.enc.Append(&k.rec); errors.Is(err, packed.ErrFrameFull) {
				if err := s.sendFrame(); err != nil {
					return err
				}
				s.startFrame()
				err = k.enc.Append(&k.rec)
			}
		}
		if err != nil {
			if k.wire.CompareAndSwap(int32(wirePacked), int32(wireBatch)) {
				k.m.log.Warn("a push cannot be packed; pushing to this peer with PushMessageBatchStream", "peer", k.pc.id, "err", err)
			}
			return fmt.Errorf("%w: %v", errUnpackable, err)
		}
	}
	return s.sendFrame()
}

// startFrame empties the encoder and gives it the link's buffer from
// gRPC's pool for the frame's records, or a new one if the last frame
// took it along (sendFrame, handOver).
func (s *pushStream) startFrame() {
	k := s.k
	k.enc.Reset()
	k.enc.StableStrings = true // the node's messages' strings
	if k.recs == nil {
		k.recs = vtcodec.Buffer(packedFrameBytes) // a frame that needs more grows it
	}
	k.enc.UseRecords(*k.recs)
}

// sendFrame sends the encoder's frame. The PackedPush is its sent_at_ms
// and the frame's header encoded into a buffer gRPC writes out and frees,
// then the records in the buffer handOver chooses, as it is
// (vtcodec.EncodeNestedTail): copied into the frame, then only by gRPC.
func (s *pushStream) sendFrame() error {
	k := s.k
	k.m.counters.pushFrames[wirePacked].Add(1)
	sentAt := protowire.AppendVarint(protowire.AppendTag(k.head[:0], 2, protowire.VarintType), uint64(k.m.clk.Now().UnixMilli())) // PackedPush.sent_at_ms
	k.head = sentAt
	size := k.enc.Size()
	push, err := vtcodec.EncodeNestedTail(sentAt, size, k.enc.AppendHeader, handOver(&k.enc, &k.recs), 1) // PackedPush.frame
	huge := size > keptFrameBytes
	k.enc.UseRecords(nil)
	k.enc.Reset()
	if huge {
		k.enc = packed.Encoder{Limits: k.enc.Limits}
	}
	if err != nil {
		return err
	}
	return s.packed.SendMsg(push)
}
