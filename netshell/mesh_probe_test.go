package netshell

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/nexusd/nexusd/proto/meshpb"
)

// v1Mesh is a v1 daemon's mesh server: the MeshService, no health service.
type v1Mesh struct {
	meshpb.UnimplementedMeshServiceServer
	instance string
}

func (m *v1Mesh) GetNodeState(context.Context, *emptypb.Empty) (*meshpb.NodeState, error) {
	return &meshpb.NodeState{InstanceUuid: m.instance}, nil
}

// A v1 peer answers the health check Unimplemented: the probe of a
// suspected peer asks its MeshService instead, and its answer, naming the
// instance, keeps it alive. A claim of a new address stays strict.
func TestAProbeOfAV1PeerAsksItsMeshService(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	meshpb.RegisterMeshServiceServer(srv, &v1Mesh{instance: "v1-peer"})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	addr := ln.Addr().String()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := ctx5(t)
	if err := probe(ctx, conn, "v1-peer", addr, false); err != nil {
		t.Fatalf("probe of a live v1 peer: %v, want it alive", err)
	}
	if err := probe(ctx, conn, "another", addr, false); err == nil {
		t.Fatal("probe for another instance at the v1 peer's address passed")
	}
	if err := probe(ctx, conn, "v1-peer", addr, true); err == nil {
		t.Fatal("a strict probe (an address claim) passed without a health answer naming the instance")
	}
}
