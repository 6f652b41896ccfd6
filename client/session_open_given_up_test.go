package client

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// scriptedSession is a daemon whose Session hands the test each request
// it reads, and sends what the test gives it.
type scriptedSession struct {
	sidecarpb.UnimplementedSidecarServiceServer
	reqs chan *sidecarpb.SessionRequest
	send chan *sidecarpb.SessionEvent
}

func (f *scriptedSession) Session(st grpc.BidiStreamingServer[sidecarpb.SessionRequest, sidecarpb.SessionEvent]) error {
	if err := st.SendHeader(metadata.MD{}); err != nil { // as the daemon does, at once
		return err
	}
	go func() {
		for {
			req, err := st.Recv()
			if err != nil {
				return
			}
			f.reqs <- req
		}
	}()
	for {
		select {
		case ev := <-f.send:
			if err := st.Send(ev); err != nil {
				return err
			}
		case <-st.Context().Done():
			return nil
		}
	}
}

// A subscription given up on before the daemon answered its open (its
// context ended) is ended on the daemon when the answer comes: the client
// sends an Unsubscribe for the id the late answer names, so the daemon
// does not keep a subscription nobody reads.
func TestASubscriptionGivenUpBeforeItsOpenIsAnsweredIsEndedOnTheDaemon(t *testing.T) {
	f := &scriptedSession{reqs: make(chan *sidecarpb.SessionRequest, 16), send: make(chan *sidecarpb.SessionEvent, 1)}
	c, err := Dial(context.Background(), startFake(t, f), WithSession(true))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	next := func() *sidecarpb.SessionRequest {
		t.Helper()
		select {
		case r := <-f.reqs:
			return r
		case <-ctx.Done():
			t.Fatal("the daemon got no further request")
			return nil
		}
	}
	subCtx, giveUp := context.WithCancel(ctx)
	subscribed := make(chan error, 1)
	go func() { _, err := c.Subscribe(subCtx, []string{"t"}); subscribed <- err }()
	ref := next().GetSubscribe().GetRef()
	if ref == 0 {
		t.Fatal("the first request is no subscribe with a ref")
	}
	giveUp()
	select {
	case err := <-subscribed:
		if err == nil {
			t.Fatal("Subscribe succeeded after its context ended")
		}
	case <-ctx.Done():
		t.Fatal("Subscribe did not return when its context ended")
	}
	f.send <- &sidecarpb.SessionEvent{SubscriptionId: "s1", Ref: ref, Kind: &sidecarpb.SessionEvent_Event{Event: &sidecarpb.MessageEvent{
		Event: &sidecarpb.MessageEvent_SubscriptionInfo{SubscriptionInfo: &sidecarpb.SubscriptionInfo{SubscriptionId: "s1"}}}}}
	for {
		if u := next().GetUnsubscribe(); u != nil {
			if u.GetSubscriptionId() != "s1" {
				t.Fatalf("unsubscribed %q, want s1", u.GetSubscriptionId())
			}
			return
		}
	}
}
