package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/nexusd/nexusd/proto/sidecarpb"
)

// The stub clients receive into the client library's kind of buffer
// pool, not gRPC's default one, which zeroes every buffer it hands out.
func TestStubClientsReceiveIntoTheClientLibrarysPool(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	go serveRelay(addr) // lives as long as the test binary
	conn, err := grpc.NewClient(addr, stubDialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api := pb.NewSidecarServiceClient(conn)
	var sub grpc.ServerStreamingClient[pb.MessageEvent]
	if err := waitFor(5*time.Second, "the relay", func() bool {
		sub, err = api.Subscribe(ctx, &pb.SubscribeRequest{Topics: []string{"t"}})
		if err == nil {
			_, err = sub.Recv() // the subscription info
		}
		return err == nil
	}); err != nil {
		t.Fatal(err)
	}
	before := stubBuffers.gets.Load()
	payload := bytes.Repeat([]byte("p"), 64<<10) // gRPC pools only buffers above 1 KiB
	if _, err := api.Publish(ctx, &pb.PublishRequest{Topic: "t", Payload: payload}); err != nil {
		t.Fatal(err)
	}
	if ev, err := sub.Recv(); err != nil || !bytes.Equal(ev.GetMessage().GetPayload(), payload) {
		t.Fatalf("the message back: %v, %v", ev, err)
	}
	if stubBuffers.gets.Load() == before {
		t.Fatal("receiving 64 KiB on a stub connection took no buffer from stubBuffers")
	}
}
