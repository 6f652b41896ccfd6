package netshell

import (
	"errors"
	"fmt"
	"net/netip"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// What the daemon makes of bytes off the network before its core sees
// them, without a network: the discovery listener's and the gRPC
// handlers' own decoding and checks, exposed so the fuzz targets (package
// fuzz) can feed them arbitrary bytes.

// DecodeBeacon reads one discovery datagram that came from src as the
// discovery listener does: the beacon it hands the core, or why it drops
// the datagram (the reason label of nexusd_beacons_dropped_total).
func DecodeBeacon(data []byte, src netip.Addr) (state.Beacon, error) {
	b, reason := decodeBeacon(data, src)
	if reason != "" {
		return state.Beacon{}, errors.New(reason)
	}
	return b, nil
}

// RequestMethods are the RPCs DecodeRequest knows, by full method name:
// every mesh and sidecar RPC.
var RequestMethods = []string{
	meshpb.MeshService_GetNodeState_FullMethodName,
	meshpb.MeshService_PushMessage_FullMethodName,
	meshpb.MeshService_PushMessageStream_FullMethodName,
	meshpb.MeshService_PushMessageBatchStream_FullMethodName,
	meshpb.MeshService_ResendMessages_FullMethodName,
	sidecarpb.SidecarService_Publish_FullMethodName,
	sidecarpb.SidecarService_PublishStream_FullMethodName,
	sidecarpb.SidecarService_Subscribe_FullMethodName,
	sidecarpb.SidecarService_ResumeSubscribe_FullMethodName,
	sidecarpb.SidecarService_Unsubscribe_FullMethodName,
	sidecarpb.SidecarService_GetTopics_FullMethodName,
	sidecarpb.SidecarService_GetPeers_FullMethodName,
}

// DecodeRequest reads one request message of method (from RequestMethods;
// one frame of a stream) as the daemon's handler does with the default
// options, and returns the events the handler would hand the core,
// numbered from id, or the gRPC status error it would answer with
// instead. RPCs whose requests carry nothing for the core return no
// events.
func DecodeRequest(method string, data []byte, id uint64) ([]state.Event, error) {
	o := DefaultOptions()
	unmarshal := func(m proto.Message) error {
		if err := proto.Unmarshal(data, m); err != nil {
			return status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
		}
		return nil
	}
	switch method {
	case meshpb.MeshService_GetNodeState_FullMethodName:
		return nil, unmarshal(&emptypb.Empty{})
	case sidecarpb.SidecarService_GetTopics_FullMethodName:
		return nil, unmarshal(&sidecarpb.GetTopicsRequest{})
	case sidecarpb.SidecarService_GetPeers_FullMethodName:
		return nil, unmarshal(&sidecarpb.GetPeersRequest{})
	case meshpb.MeshService_PushMessage_FullMethodName, meshpb.MeshService_PushMessageStream_FullMethodName:
		var in meshpb.MessageEnvelope
		if err := unmarshal(&in); err != nil {
			return nil, err
		}
		return []state.Event{&state.PushReceived{Req: id, Envs: []state.Envelope{envelopeFromProto(&in)}}}, nil
	case meshpb.MeshService_PushMessageBatchStream_FullMethodName:
		var in meshpb.MessageBatch
		if err := unmarshal(&in); err != nil {
			return nil, err
		}
		return []state.Event{&state.PushReceived{Req: id, Envs: envelopesFromProto(in.GetMessages())}}, nil
	case meshpb.MeshService_ResendMessages_FullMethodName:
		var in meshpb.ResendRequest
		if err := unmarshal(&in); err != nil {
			return nil, err
		}
		ev, err := resendRequestFromProto(id, &in)
		return events(ev, err)
	case sidecarpb.SidecarService_Publish_FullMethodName:
		var in sidecarpb.PublishRequest
		if err := unmarshal(&in); err != nil {
			return nil, err
		}
		return []state.Event{publishFromProto(id, &in)}, nil
	case sidecarpb.SidecarService_PublishStream_FullMethodName:
		var in sidecarpb.PublishBatch
		if err := unmarshal(&in); err != nil {
			return nil, err
		}
		if err := checkPublishBatch(len(in.GetRequests()), o.MaxPublishBatch); err != nil {
			return nil, err
		}
		evs := make([]state.Event, len(in.GetRequests()))
		for i, r := range in.GetRequests() {
			evs[i] = publishFromProto(id+uint64(i), r)
		}
		return evs, nil
	case sidecarpb.SidecarService_Subscribe_FullMethodName:
		var in sidecarpb.SubscribeRequest
		if err := unmarshal(&in); err != nil {
			return nil, err
		}
		window, _ := streamSizes(&o, in.GetMaxBatch())
		ev, err := subscribeFromProto(id, window, &in)
		return events(ev, err)
	case sidecarpb.SidecarService_ResumeSubscribe_FullMethodName:
		var in sidecarpb.ResumeSubscribeRequest
		if err := unmarshal(&in); err != nil {
			return nil, err
		}
		window, _ := streamSizes(&o, in.GetMaxBatch())
		ev, err := resumeFromProto(id, window, &in)
		return events(ev, err)
	case sidecarpb.SidecarService_Unsubscribe_FullMethodName:
		var in sidecarpb.UnsubscribeRequest
		if err := unmarshal(&in); err != nil {
			return nil, err
		}
		ev, err := unsubscribeFromProto(id, &in)
		return events(ev, err)
	}
	return nil, fmt.Errorf("netshell: no RPC %q", method)
}

// events turns one converted request into a list, or its refusal.
func events[E state.Event](ev E, err error) ([]state.Event, error) {
	if err != nil {
		return nil, err
	}
	return []state.Event{ev}, nil
}
