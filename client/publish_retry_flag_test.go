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

// refusingStream is a daemon with PublishStream only (no PublishPacked),
// which refuses every message for now, as an overloaded daemon does.
type refusingStream struct {
	sidecarpb.UnimplementedSidecarServiceServer
}

func (refusingStream) PublishStream(st grpc.BidiStreamingServer[sidecarpb.PublishBatch, sidecarpb.PublishAck]) error {
	var n uint64
	for {
		b, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		ack := &sidecarpb.PublishAck{}
		for range b.GetRequests() {
			ack.Failures = append(ack.Failures, &sidecarpb.PublishFailure{Index: n, Code: "UNAVAILABLE", ErrorMessage: "try again"})
			n++
		}
		ack.Accepted = n
		if err := st.Send(ack); err != nil {
			return err
		}
	}
}

// A message PublishStream refuses with UNAVAILABLE was not published and
// may be sent again: its PublishFailure says Retry, as PublishPacked's
// retry flag does, so the application can tell it from a refusal that
// sending again would only repeat.
func TestAPublishStreamRefusalForNowIsOneToRetry(t *testing.T) {
	c, err := Dial(context.Background(), startFake(t, refusingStream{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := c.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "t", []byte("x")); err != nil {
		t.Fatal(err)
	}
	var failed *PublishErrors
	if err := p.Flush(ctx); !errors.As(err, &failed) || len(failed.Failures) != 1 {
		t.Fatalf("Flush: %v, want the one refusal", err)
	}
	if f := failed.Failures[0]; !f.Retry || !errors.Is(f.Err, ErrUnavailable) {
		t.Fatalf("failure %+v, want UNAVAILABLE with Retry", f)
	}
}
