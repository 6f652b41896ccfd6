package main

import (
	"context"
	"net"
	"sync"

	"google.golang.org/grpc"

	pb "github.com/nexusd/nexusd/proto/sidecarpb"
)

// relay is the raw gRPC ceiling: the sidecar API with nothing behind it.
// A publish is copied to every subscriber of the exact topic, through a
// buffered channel per subscriber (waiting when it is full), and sent in
// frames of up to max_batch messages. No ids, no numbering, no queues with
// policies, no mesh: whatever a gRPC sidecar does on top costs beyond this.
type relay struct {
	pb.UnimplementedSidecarServiceServer
	mu   sync.RWMutex
	subs map[string][]chan *pb.Message
}

func serveRelay(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64<<20), grpc.MaxSendMsgSize(64<<20),
		// the daemon's transport sizes (netshell/grpc.go)
		grpc.InitialWindowSize(stubWindowBytes), grpc.InitialConnWindowSize(stubWindowBytes),
		grpc.ReadBufferSize(stubBufferBytes), grpc.WriteBufferSize(relayWriteBufferBytes))
	pb.RegisterSidecarServiceServer(srv, &relay{subs: map[string][]chan *pb.Message{}})
	return srv.Serve(ln)
}

func (r *relay) deliver(req *pb.PublishRequest) int32 {
	m := &pb.Message{Topic: req.GetTopic(), Payload: req.GetPayload()}
	r.mu.RLock()
	defer r.mu.RUnlock()
	subs := r.subs[req.GetTopic()]
	for _, c := range subs {
		c <- m // a slow subscriber holds the publisher back, as block does in nexusd
	}
	return int32(len(subs))
}

func (r *relay) Publish(_ context.Context, req *pb.PublishRequest) (*pb.PublishResponse, error) {
	return &pb.PublishResponse{Success: true, SubscriberCount: r.deliver(req)}, nil
}

func (r *relay) PublishStream(stream grpc.BidiStreamingServer[pb.PublishBatch, pb.PublishAck]) error {
	var n uint64
	for {
		b, err := stream.Recv()
		if err != nil {
			return nil
		}
		for _, req := range b.GetRequests() {
			r.deliver(req)
		}
		n += uint64(len(b.GetRequests()))
		if err := stream.Send(&pb.PublishAck{Accepted: n}); err != nil {
			return err
		}
	}
}

func (r *relay) Subscribe(req *pb.SubscribeRequest, stream grpc.ServerStreamingServer[pb.MessageEvent]) error {
	c := make(chan *pb.Message, 65536)
	r.mu.Lock()
	for _, t := range req.GetTopics() {
		r.subs[t] = append(r.subs[t], c)
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		for _, t := range req.GetTopics() {
			list := r.subs[t]
			for i, x := range list {
				if x == c {
					r.subs[t] = append(list[:i], list[i+1:]...)
					break
				}
			}
		}
		r.mu.Unlock()
	}()
	if err := stream.Send(&pb.MessageEvent{Event: &pb.MessageEvent_SubscriptionInfo{SubscriptionInfo: &pb.SubscriptionInfo{SubscriptionId: "relay"}}}); err != nil {
		return err
	}
	batch := int(req.GetMaxBatch())
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case m := <-c:
			if batch <= 1 {
				if err := stream.Send(&pb.MessageEvent{Event: &pb.MessageEvent_Message{Message: m}}); err != nil {
					return err
				}
				continue
			}
			msgs := []*pb.Message{m}
		fill:
			for len(msgs) < batch {
				select {
				case m = <-c:
					msgs = append(msgs, m)
				default:
					break fill
				}
			}
			if err := stream.Send(&pb.MessageEvent{Event: &pb.MessageEvent_Batch{Batch: &pb.MessageBatch{Messages: msgs}}}); err != nil {
				return err
			}
		}
	}
}
