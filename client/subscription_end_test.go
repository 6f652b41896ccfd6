package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// Pins what Next returns after a subscription stopped on an error (its
// resumes gave up): that error, not ErrSubscriptionEnded.
func TestNextAfterASubscriptionGaveUpReturnsWhyNotEnded(t *testing.T) {
	sub, ctx := subscribeFake(t, &unresumable{}, Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2, MaxRetries: 1})
	_, err := sub.Next(ctx)
	if err == nil || errors.Is(err, ErrSubscriptionEnded) || ctx.Err() != nil {
		t.Fatalf("Next: %v, want why the subscription gave up", err)
	}
	if err != sub.Err() {
		t.Fatalf("Next: %v, Err: %v; want the same error", err, sub.Err())
	}
}

// forgottenSub keeps a subscription's stream open and answers its
// Unsubscribe NOT_FOUND, as a daemon that already dropped it does.
type forgottenSub struct {
	sidecarpb.UnimplementedSidecarServiceServer
}

func (forgottenSub) Subscribe(in *sidecarpb.SubscribeRequest, st grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	if err := st.Send(v1Info("s1")); err != nil {
		return err
	}
	<-st.Context().Done()
	return nil
}

func (forgottenSub) Unsubscribe(context.Context, *sidecarpb.UnsubscribeRequest) (*sidecarpb.UnsubscribeResponse, error) {
	return nil, status.Error(codes.NotFound, "no such subscription")
}

// Pins Unsubscribe of a subscription the daemon no longer knows: it is
// gone already, so Unsubscribe succeeds.
func TestUnsubscribeOfASubscriptionTheDaemonForgotSucceeds(t *testing.T) {
	sub, ctx := subscribeFake(t, forgottenSub{}, Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2})
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatalf("Unsubscribe: %v, want nil for a subscription the daemon no longer has", err)
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("Err after Unsubscribe: %v", err)
	}
}
