package client

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// unresumable opens one subscription, breaks its stream, and answers
// every resume UNAVAILABLE, counting them.
type unresumable struct {
	sidecarpb.UnimplementedSidecarServiceServer
	mu      sync.Mutex
	resumes int
}

func (u *unresumable) Subscribe(in *sidecarpb.SubscribeRequest, st grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	if err := st.Send(v1Info("s1")); err != nil {
		return err
	}
	return status.Error(codes.Unavailable, "cut")
}

func (u *unresumable) ResumeSubscribe(in *sidecarpb.ResumeSubscribeRequest, st grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	u.mu.Lock()
	u.resumes++
	u.mu.Unlock()
	return status.Error(codes.Unavailable, "still down")
}

// subscribeFake subscribes to "t" on fake daemon srv through a client
// with backoff b, and returns the subscription and a 10 s context.
func subscribeFake(t *testing.T, srv sidecarpb.SidecarServiceServer, b Backoff) (*Subscription, context.Context) {
	t.Helper()
	c := dialFake(t, startFake(t, srv), WithBackoff(b))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	sub, err := c.Subscribe(ctx, []string{"t"})
	if err != nil {
		t.Fatal(err)
	}
	return sub, ctx
}

// Pins Backoff.MaxRetries for a subscription: it gives up after exactly
// MaxRetries failed resume attempts, not one more.
func TestASubscriptionGivesUpAfterMaxRetriesResumeAttempts(t *testing.T) {
	u := &unresumable{}
	sub, ctx := subscribeFake(t, u, Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2, MaxRetries: 3})
	select {
	case <-sub.Done():
	case <-ctx.Done():
		t.Fatal("the subscription never gave up")
	}
	if sub.Err() == nil {
		t.Fatal("Err is nil after giving up")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.resumes != 3 {
		t.Fatalf("%d resume attempts, want MaxRetries (3)", u.resumes)
	}
}

// Pins that a daemon answering without an instance header is not taken
// for a restarted one: the subscription resumes by id, once, and is not
// opened again by its topics from sequence 0.
func TestADaemonNamingNoInstanceIsResumedByID(t *testing.T) {
	f := &fakeDaemon{instance: "run-1", known: map[string]bool{}, cut: make(chan struct{})}
	sub, ctx := subscribeFake(t, f, Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2})
	f.mu.Lock()
	f.instance = ""
	close(f.cut)
	f.mu.Unlock()
	for sub.ID() != "s2" {
		select {
		case <-ctx.Done():
			t.Fatal("the subscription never resumed")
		case <-time.After(5 * time.Millisecond):
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.resumes) != 1 || f.resumes[0].GetSubscriptionId() != "s1" {
		t.Fatalf("resumes %v, want one, by id s1", f.resumes)
	}
}
