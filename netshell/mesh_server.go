package netshell

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/state"
)

// pushStreamWindow is how many received batches of one push stream may
// wait for the node's answer before the server stops reading the stream
// (gRPC flow control then holds the sender back). Senders pack at most
// 256 KiB of payload a batch (a single larger message goes alone), and the
// message limit caps any batch, so what one stream holds stays bounded.
const pushStreamWindow = 16

// meshServer serves MeshService: the reliable daemon-to-daemon path. Every
// call becomes one event for the loop and is answered from its effect.
type meshServer struct {
	meshpb.UnimplementedMeshServiceServer
	loop   *loop
	log    *slog.Logger
	frames packed.Limits // what a PushPacked frame may hold

	// The last NodeState converted, reused while the node hands out the
	// same (immutable) state.
	cache atomic.Pointer[cachedState]
}

type cachedState struct {
	src *state.NodeState
	pb  *meshpb.NodeState
}

func (s *meshServer) GetNodeState(ctx context.Context, _ *emptypb.Empty) (*meshpb.NodeState, error) {
	ans, err := s.loop.ask(ctx, &state.StateRequested{Req: s.loop.newID()})
	if err != nil {
		return nil, rpcError(err)
	}
	st := ans.(*state.AnswerState).State
	if c := s.cache.Load(); c != nil && c.src == st {
		return c.pb, nil
	}
	pb := nodeStateToProto(st)
	s.cache.Store(&cachedState{src: st, pb: pb})
	return pb, nil
}

func (s *meshServer) PushMessage(ctx context.Context, in *meshpb.MessageEnvelope) (*meshpb.Ack, error) {
	ans, err := s.loop.ask(ctx, &state.PushReceived{Req: s.loop.newID(), From: peerAddr(ctx),
		Envs: []state.Envelope{envelopeFromProto(in)}})
	if err != nil {
		return nil, rpcError(err)
	}
	var refused error
	if errs := ans.(*state.AnswerPush).Errs; errs != nil {
		refused = errs[0]
	}
	return pushAck(in.GetMessageId(), refused), nil
}

func (s *meshServer) ResendMessages(ctx context.Context, in *meshpb.ResendRequest) (*meshpb.ResendResponse, error) {
	ev, err := resendRequestFromProto(s.loop.newID(), in)
	if err != nil {
		return nil, err
	}
	ans, err := s.loop.ask(ctx, ev)
	if err != nil {
		return nil, rpcError(err)
	}
	return resendReplyToProto(&ans.(*state.AnswerResend).Reply), nil
}

// Leave takes a peer's notice that it is stopping: the node removes the
// instance it names at once, as its leave beacon would, if that instance is
// a peer known at the caller's host (with a cluster key, mutual TLS has
// made the caller a member); any other notice changes nothing and is
// counted. The answer is empty either way: the caller is going.
func (s *meshServer) Leave(ctx context.Context, in *meshpb.LeaveNotice) (*emptypb.Empty, error) {
	ev := &state.LeaveNoticed{Instance: in.GetInstanceUuid(), From: peerAddr(ctx)}
	if err := s.loop.post(ctx, input{ev: ev}); err != nil {
		return nil, rpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// PushMessageBatchStream takes a peer's ordered batches; each batch is one
// PushReceived, acknowledged by cumulative count.
func (s *meshServer) PushMessageBatchStream(stream grpc.BidiStreamingServer[meshpb.MessageBatch, meshpb.BatchAck]) error {
	return s.servePush(stream.Context(),
		func([]state.Envelope) (pushIn, error) {
			b, err := stream.Recv()
			if err != nil {
				return pushIn{}, err
			}
			return pushIn{envs: envelopesFromProto(b.GetMessages()), sentAt: b.GetSentAtMs()}, nil
		},
		batchAcks(stream.Send))
}

// batchAcks answers a stream acknowledged by BatchAck: the envelopes
// answered since the stream opened, and those of the answered batches that
// were refused, by message id.
func batchAcks(send func(*meshpb.BatchAck) error) func([]pushDone) error {
	var total uint64
	return func(done []pushDone) error {
		ack := &meshpb.BatchAck{}
		for _, d := range done {
			total += uint64(len(d.envs))
			for i, err := range d.errs {
				if err != nil {
					ack.Failures = append(ack.Failures, pushAck(d.envs[i].MessageID(), err))
				}
			}
		}
		ack.Accepted = total
		return send(ack)
	}
}

// PushMessageStream is the v1 stream: one Ack per envelope, in order.
func (s *meshServer) PushMessageStream(stream grpc.BidiStreamingServer[meshpb.MessageEnvelope, meshpb.Ack]) error {
	return s.servePush(stream.Context(),
		func([]state.Envelope) (pushIn, error) {
			e, err := stream.Recv()
			if err != nil {
				return pushIn{}, err
			}
			return pushIn{envs: []state.Envelope{envelopeFromProto(e)}}, nil
		},
		func(done []pushDone) error {
			for _, d := range done {
				var refused error
				if d.errs != nil {
					refused = d.errs[0]
				}
				if err := stream.Send(pushAck(d.envs[0].MessageID(), refused)); err != nil {
					return err
				}
			}
			return nil
		})
}

// pushDone is one received batch and, once the node answered, its result.
type pushDone struct {
	req   uint64
	envs  []state.Envelope // the batch; the node only reads it, so the answer names refusals by its ids
	frame keptFrame        // what its payloads are borrowed from, if anything (pushIn)
	errs  []error          // nil: all taken
}

// pushIn is a batch as servePush's recv returns it.
type pushIn struct {
	envs   []state.Envelope
	sentAt int64 // the sender's wall clock, if it said
	// frame, when set, is the received frame the envelopes' payloads
	// still point into (PushReceived.Borrowed), lent to the node with the
	// batch (PushReceived.Frame): servePush lets go of it once the node
	// has answered the batch, and never if the stream ends before that
	// (the node may yet step it); the node, when it gives it back.
	frame keptFrame
}

// keptFrame is a received frame kept while the node reads it: done is
// servePush letting go, once the batch is answered.
type keptFrame interface {
	frameLender
	done()
	size() int
}

// servePush runs one push stream: a reader goroutine turns each received
// batch into a PushReceived (at most pushStreamWindow unanswered), and this
// goroutine sends acknowledgements as the answers come, in order. When the
// peer closes its side, the answers still owed are sent before returning.
// recv returns the next batch, or the error that ends the stream (io.EOF:
// the peer is done); the batch is the node's once returned. recv may
// append the batch to the empty slice it is given, one whose batch was
// answered: the node copies what it keeps out of a batch, so its array
// can take another.
func (s *meshServer) servePush(ctx context.Context, recv func([]state.Envelope) (pushIn, error), ack func([]pushDone) error) error {
	from := peerAddr(ctx)
	answers := newMailbox[state.Effect]()
	var mu sync.Mutex
	var owed []pushDone          // batches posted, oldest first; the node answers in order
	var spare [][]state.Envelope // answered batches' arrays, to reuse
	slots := make(chan struct{}, pushStreamWindow)
	readErr := make(chan error, 1)
	go func() {
		for {
			var into []state.Envelope
			mu.Lock()
			if k := len(spare); k > 0 {
				into, spare = spare[k-1], spare[:k-1]
			}
			mu.Unlock()
			in, err := recv(into)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
			req := s.loop.newID()
			mu.Lock()
			owed = append(owed, pushDone{req: req, envs: in.envs, frame: in.frame})
			mu.Unlock()
			ev := &state.PushReceived{Req: req, From: from, Envs: in.envs, SentAtMs: in.sentAt}
			if in.frame != nil {
				ev.Borrowed, ev.Frame, ev.FrameBytes = true, in.frame, in.frame.size()
			}
			if err := s.loop.post(ctx, input{ev: ev, reply: answers}); err != nil {
				readErr <- err
				return
			}
		}
	}()
	var done []pushDone
	var buf []state.Effect
	idle := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(owed) == 0
	}
	return s.loop.serveAnswers(ctx, answers.wake, readErr, idle, func() error {
		if buf = answers.take(buf); len(buf) == 0 {
			return nil
		}
		done = done[:0]
		mu.Lock()
		for _, e := range buf {
			a := e.(*state.AnswerPush)
			d := owed[0]
			owed = owed[1:]
			if d.req != a.Req {
				mu.Unlock()
				s.log.Error("push answers out of order", "want", d.req, "got", a.Req)
				return status.Error(codes.Internal, "push answers out of order")
			}
			d.errs = a.Errs
			done = append(done, d)
		}
		mu.Unlock()
		for range buf {
			<-slots
		}
		err := ack(done)
		mu.Lock()
		for _, d := range done {
			if len(spare) < pushStreamWindow && cap(d.envs) > 0 {
				clear(d.envs) // keeps no message's bytes alive while spare
				spare = append(spare, d.envs[:0])
			}
		}
		mu.Unlock()
		for i := range done {
			if f := done[i].frame; f != nil {
				f.done() // answered: the node gives back what it keeps
			}
			done[i] = pushDone{}
		}
		return err
	})
}
