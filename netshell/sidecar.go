package netshell

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// sidecarServer serves SidecarService, the API applications use. Each call
// becomes one event for the loop; refusals from the node become gRPC
// codes (grpcCode) with the node's message.
type sidecarServer struct {
	sidecarpb.UnimplementedSidecarServiceServer
	loop    *loop
	o       *Options
	log     *slog.Logger
	cluster string
	metrics *metrics
}

func (s *sidecarServer) Publish(ctx context.Context, in *sidecarpb.PublishRequest) (*sidecarpb.PublishResponse, error) {
	if bypassNode && bypassUnary(in) { // never in the daemon (bypass.go)
		return &sidecarpb.PublishResponse{}, nil
	}
	ans, err := s.loop.ask(ctx, publishFromProto(s.loop.newID(), in))
	if err != nil {
		return nil, rpcError(err)
	}
	c := ans.(*state.CompletePublish)
	if c.Err != nil {
		return nil, statusOf(c.Err)
	}
	return publishResultToProto(&c.Result), nil
}

func (s *sidecarServer) Unsubscribe(ctx context.Context, in *sidecarpb.UnsubscribeRequest) (*sidecarpb.UnsubscribeResponse, error) {
	ev, err := unsubscribeFromProto(s.loop.newID(), in)
	if err != nil {
		return nil, err
	}
	ans, err := s.loop.ask(ctx, ev)
	if err != nil {
		return nil, rpcError(err)
	}
	c := ans.(*state.CompleteUnsubscribe)
	if c.Err != nil {
		return nil, statusOf(c.Err)
	}
	resp := &sidecarpb.UnsubscribeResponse{Success: true}
	if in.GetPause() {
		resp.PauseTtlMs = c.PauseTTL.Milliseconds()
	}
	return resp, nil
}

func (s *sidecarServer) GetTopics(ctx context.Context, in *sidecarpb.GetTopicsRequest) (*sidecarpb.GetTopicsResponse, error) {
	var counts map[string]int
	if err := s.loop.query(ctx, func(l *loop) { counts = l.node.TopicCounts() }); err != nil {
		return nil, rpcError(err)
	}
	return topicsToProto(counts), nil
}

func (s *sidecarServer) GetPeers(ctx context.Context, in *sidecarpb.GetPeersRequest) (*sidecarpb.GetPeersResponse, error) {
	var peers []state.PeerInfo
	if err := s.loop.query(ctx, func(l *loop) { peers = l.node.Peers() }); err != nil {
		return nil, rpcError(err)
	}
	resp := &sidecarpb.GetPeersResponse{Peers: make([]*sidecarpb.PeerInfo, len(peers))}
	for i := range peers {
		resp.Peers[i] = peerToProto(&peers[i], s.cluster, in.GetIncludeState())
	}
	return resp, nil
}

func (s *sidecarServer) Subscribe(in *sidecarpb.SubscribeRequest, stream grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	if err := checkMaxBatch(in.GetMaxBatch()); err != nil {
		return err
	}
	window, maxBatch := streamSizes(s.o, in.GetMaxBatch())
	st := newSubStream(s.loop.newID(), window, maxBatch)
	st.windowBytes = s.o.StreamWindowBytes
	ev, err := subscribeFromProto(st.handle, window, in)
	if err != nil {
		return err
	}
	ev.CreditBytes = st.windowBytes
	return s.serveStream(stream.Context(), stream.Send, ev, st, nil)
}

func (s *sidecarServer) ResumeSubscribe(in *sidecarpb.ResumeSubscribeRequest, stream grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	if err := checkMaxBatch(in.GetMaxBatch()); err != nil {
		return err
	}
	window, maxBatch := streamSizes(s.o, in.GetMaxBatch())
	st := newSubStream(s.loop.newID(), window, maxBatch)
	st.windowBytes = s.o.StreamWindowBytes
	ev, err := resumeFromProto(st.handle, st.window, in)
	if err != nil {
		return err
	}
	ev.CreditBytes = st.windowBytes
	return s.serveStream(stream.Context(), stream.Send, ev, st, nil)
}
