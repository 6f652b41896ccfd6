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
	// The envelopes borrow their payloads from the frame, which gRPC
	// received them in: it is kept until the node has answered its batch
	// (servePush) and given it back, then received into again.
	fr := pushFrameReader{dec: packed.Decoder{Limits: s.frames}, borrow: true}
	spare := make(chan *heldPush, pushStreamWindow+1)
	return s.servePush(stream.Context(),
		func(into []state.Envelope) (pushIn, error) {
			var p *heldPush
			select {
			case p = <-spare:
			default:
				p = &heldPush{spare: spare}
			}
			if err := stream.RecvMsg(&p.frame); err != nil {
				return pushIn{}, err
			}
			envs, err := fr.envelopes(p.frame.Msg().GetFrame(), into)
			if err != nil {
				p.done()
				// Ends the stream once the frames before it are
				// answered and acked (serveAnswers).
				return pushIn{}, &refusedFrame{err: frameRefused(err, "")}
			}
			p.lend()
			return pushIn{envs: envs, sentAt: p.frame.Msg().GetSentAtMs(), frame: p}, nil
		},
		batchAcks(stream.Send))
}

// heldPush is a PushPacked frame decoded in place in gRPC's buffer, kept
// while the node reads the payloads of its batch: lent to it (lent).
type heldPush struct {
	frame vtcodec.Held[meshpb.PackedPush, *meshpb.PackedPush]
	spare chan *heldPush // its stream's frames to receive into again
	lent
}

// done is an owner letting go; the last gives the buffer back and the
// frame to its stream.
func (p *heldPush) done() {
	if !p.letGo() {
		return
	}
	p.frame.Release()
	select {
	case p.spare <- p:
	default:
	}
}

// releaseFrame is the node giving the frame back (state.ReleaseFrame).
func (p *heldPush) releaseFrame(recycle bool) {
	p.given(recycle)
	p.done()
}

func (p *heldPush) size() int { return p.frame.Size() }

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
