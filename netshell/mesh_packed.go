package netshell

import (
	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/vtcodec"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/state"
)

// PushPacked is PushMessageBatchStream with each batch in one packed frame:
// the same PushReceived per frame, the same cumulative BatchAck with
// refusals by message id. A frame is validated whole before any of it
// reaches the node, so a malformed one ends the stream having changed
// nothing: INVALID_ARGUMENT naming the record and the fault, or
// RESOURCE_EXHAUSTED for a well-formed frame past a limit.
func (s *meshServer) PushPacked(stream grpc.BidiStreamingServer[meshpb.PackedPush, meshpb.BatchAck]) error {
	fr := pushFrameReader{dec: packed.Decoder{Limits: s.frames}}
	// Only servePush's reader touches p, one frame at a time, and gives
	// each back as soon as its envelopes are made; it may still be
	// receiving after this handler returns.
	var p vtcodec.Held[meshpb.PackedPush, *meshpb.PackedPush]
	return s.servePush(stream.Context(),
		func(into []state.Envelope) ([]state.Envelope, int64, error) {
			if err := stream.RecvMsg(&p); err != nil {
				return nil, 0, err
			}
			defer p.Release() // the envelopes own their bytes
			envs, err := fr.envelopes(p.Msg().GetFrame(), into)
			if err != nil {
				return nil, 0, frameRefused(err, "")
			}
			return envs, p.Msg().GetSentAtMs(), nil
		},
		batchAcks(stream.Send))
}

// pushFrameLimits bounds the packed frames of the push path, sent and
// received. Only the frame is bounded by the daemon's own size (what gRPC
// carries, less room for the PackedPush around it); a payload may take all
// of it, so one past a peer's
// --max-payload is refused by that peer's node, by message id, as on
// PushMessageBatchStream, rather than ending the stream. The other limits
// are the node's fixed ones (DefaultLimits).
func pushFrameLimits(o *Options) packed.Limits {
	frame := maxMessageBytes(o) - 32
	return packed.Limits{MaxFrameBytes: frame, MaxPayloadBytes: frame}
}
