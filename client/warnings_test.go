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

func warnEvent(dropped uint64) *sidecarpb.MessageEvent {
	return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_BackpressureWarning{
		BackpressureWarning: &sidecarpb.BackpressureWarning{Reason: "slow_consumer", MessagesDropped: dropped}}}
}

func v1Info(id string) *sidecarpb.MessageEvent {
	return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_SubscriptionInfo{SubscriptionInfo: &sidecarpb.SubscriptionInfo{SubscriptionId: id}}}
}

// twoWarnings subscribes to "t" on the fake daemon at addr and returns
// the first two backpressure warnings its handler is given.
func twoWarnings(t *testing.T, addr string) []BackpressureWarning {
	t.Helper()
	var mu sync.Mutex
	var got []BackpressureWarning
	two := make(chan struct{})
	c, err := Dial(context.Background(), addr,
		WithBackoff(Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2}),
		WithBackpressureHandler(func(w BackpressureWarning) {
			mu.Lock()
			defer mu.Unlock()
			if got = append(got, w); len(got) == 2 {
				close(two)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Subscribe(ctx, []string{"t"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-two:
	case <-ctx.Done():
		t.Fatal("the two warnings never reached the handler")
	}
	mu.Lock()
	defer mu.Unlock()
	return got[:2]
}

// The daemon's backpressure warnings carry running totals; the client
// hands the application what changed since the subscription's last
// warning (Dropped) beside the totals (TotalDropped), so two warnings of
// one subscription report each lost message once.
func TestBackpressureWarningsReportWhatChangedSinceTheLast(t *testing.T) {
	f := &fakeDaemon{instance: "run-1", known: map[string]bool{}, cut: make(chan struct{}),
		live: func(send func(*sidecarpb.MessageEvent) error) error {
			if err := send(warnEvent(3)); err != nil {
				return err
			}
			return send(warnEvent(5))
		}}
	got := twoWarnings(t, startFake(t, f))
	if got[0].Dropped != 3 || got[0].TotalDropped != 3 || got[1].Dropped != 2 || got[1].TotalDropped != 5 {
		t.Fatalf("warnings %+v, want dropped 3 (total 3) then 2 (total 5)", got)
	}
}

// forgetfulDaemon warns on its first stream, breaks it, and on the
// resume opens a new subscription (its id changes) that warns afresh.
type forgetfulDaemon struct {
	sidecarpb.UnimplementedSidecarServiceServer
}

func (forgetfulDaemon) Subscribe(in *sidecarpb.SubscribeRequest, st grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	for _, ev := range []*sidecarpb.MessageEvent{v1Info("s1"), warnEvent(5)} {
		if err := st.Send(ev); err != nil {
			return err
		}
	}
	return status.Error(codes.Unavailable, "cut")
}

func (forgetfulDaemon) ResumeSubscribe(in *sidecarpb.ResumeSubscribeRequest, st grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	for _, ev := range []*sidecarpb.MessageEvent{v1Info("s2"), warnEvent(7)} {
		if err := st.Send(ev); err != nil {
			return err
		}
	}
	<-st.Context().Done()
	return nil
}

// A warning's counts since the last are counted per daemon subscription:
// when the subscription comes back under a new id (the daemon forgot the
// old one), its running totals start again from zero, so its first
// warning reports all it counts, not the difference from the old
// subscription's totals.
func TestWarningsOfANewDaemonSubscriptionCountFromZero(t *testing.T) {
	got := twoWarnings(t, startFake(t, forgetfulDaemon{}))
	if got[0].Subscription != "s1" || got[0].Dropped != 5 || got[1].Subscription != "s2" || got[1].Dropped != 7 {
		t.Fatalf("warnings %+v, want s1 dropped 5 then s2 dropped 7", got)
	}
}
