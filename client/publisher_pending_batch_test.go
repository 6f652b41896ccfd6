package client

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// silentStream is a daemon with PublishStream only, which takes every
// batch and never acknowledges any.
type silentStream struct {
	sidecarpb.UnimplementedSidecarServiceServer
}

func (silentStream) PublishStream(st grpc.BidiStreamingServer[sidecarpb.PublishBatch, sidecarpb.PublishAck]) error {
	for {
		if _, err := st.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// Pins MaxPending(n): with n messages unsettled, the next Publish waits
// (and so fails with its ended ctx) rather than queueing an n+1th.
func TestPublishWaitsOnceMaxPendingMessagesAreUnsettled(t *testing.T) {
	c, err := Dial(context.Background(), startFake(t, silentStream{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := c.Publisher(ctx, MaxPending(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "t", []byte("1")); err != nil {
		t.Fatal(err)
	}
	ended, end := context.WithCancel(context.Background())
	end()
	if n, err := p.Publish(ended, "t", []byte("2")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish over MaxPending = %d, %v; want it to wait, and fail with its canceled ctx", n, err)
	}
}

// Pins batching: small queued messages go out together in one
// PublishStream batch, not one batch each.
func TestPublishStreamSendsQueuedMessagesAsOneBatch(t *testing.T) {
	p := &Publisher{o: publisherOptions{batch: 1024}}
	for i := uint64(1); i <= 3; i++ {
		p.queue.push(pubItem{n: i, topic: "t", payload: []byte("x")})
	}
	st := &pubStream{}
	var sd sender
	p.take(st, &sd)
	if len(sd.batch) != 3 || st.sent.len() != 3 || p.queue.len() != 0 {
		t.Fatalf("batch of %d, %d sent, %d still queued; want all 3 in one batch", len(sd.batch), st.sent.len(), p.queue.len())
	}
}
