package client_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/client"
)

// plainCodec is protobuf-go with nothing else, as an application might
// force on the client's calls.
type plainCodec struct{}

func (plainCodec) Name() string { return "proto" }

func (plainCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("plainCodec: %T is not a proto.Message", v)
	}
	b, err := proto.Marshal(m)
	return mem.BufferSlice{mem.SliceBuffer(b)}, err
}

func (plainCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("plainCodec: %T is not a proto.Message", v)
	}
	return proto.Unmarshal(data.Materialize(), m)
}

// TestAForcedCodecStillReceives: with a codec forced on its calls that
// cannot decode frames in place, a client still gets every message, on a
// Session and on a borrowing subscription's own stream: it finds out on
// the first frame and receives as usual from then on.
func TestAForcedCodecStillReceives(t *testing.T) {
	d := daemon(t)
	for _, session := range []bool{true, false} {
		t.Run(fmt.Sprintf("session=%v", session), func(t *testing.T) {
			c := dial(t, d.App, client.WithSession(session), client.WithBackoff(fast),
				client.WithGRPCOptions(grpc.WithDefaultCallOptions(grpc.ForceCodecV2(plainCodec{}))))
			ctx := ctxT(t, 30*time.Second)
			topic := fmt.Sprintf("forced/%v", session)
			sub, err := c.Subscribe(ctx, []string{topic}, client.BorrowPayloads(), client.BackpressurePolicy(client.Block))
			if err != nil {
				t.Fatal(err)
			}
			want := payloads("f", 0, 200)
			publishAll(t, dial(t, d.App), topic, want)
			got := recv(t, sub, len(want), 20*time.Second)
			checkPayloads(t, got, want)
			for _, m := range got {
				m.Release()
			}
		})
	}
}
