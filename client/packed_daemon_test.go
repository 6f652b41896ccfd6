package client_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/client"
)

// callCounter counts the streams a client opens, by method.
type callCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (cc *callCounter) option() client.Option {
	return client.WithGRPCOptions(grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, conn *grpc.ClientConn,
		method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cc.mu.Lock()
		if cc.calls == nil {
			cc.calls = map[string]int{}
		}
		cc.calls[method[len("/nexusd.sidecar.SidecarService/"):]]++
		cc.mu.Unlock()
		return streamer(ctx, desc, conn, method, opts...)
	}))
}

func (cc *callCounter) get(method string) int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.calls[method]
}

// TestARealDaemonGetsPackedFrames: against this repository's daemon, the
// client publishes and subscribes on PublishPacked and SubscribePacked
// (the daemon took them: no v1 call followed), a publish burst arrives
// whole and in order with its fields, and a stream broken by a network
// cut resumes on SubscribePacked; with WithPacked(false) only the v1
// calls are made. By default the subscription is on a Session, which the
// cut replaces with a new one.
func TestARealDaemonGetsPackedFrames(t *testing.T) {
	d := daemon(t)
	for _, mode := range []struct{ packed, session bool }{{true, true}, {true, false}, {false, false}} {
		packed := mode.packed
		t.Run(fmt.Sprintf("packed=%v,session=%v", mode.packed, mode.session), func(t *testing.T) {
			var cc callCounter
			px := newProxy(t, d.App)
			c := dial(t, px.Addr(), cc.option(), client.WithPacked(packed), client.WithSession(mode.session), client.WithBackoff(fast))
			ctx := ctxT(t, 30*time.Second)
			topic := fmt.Sprintf("real/%v/%v", packed, mode.session)
			sub, err := c.Subscribe(ctx, []string{topic})
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.Publisher(ctx)
			if err != nil {
				t.Fatal(err)
			}
			const n = 5000
			want := payloads("r", 0, n)
			for _, w := range want {
				if _, err := p.Publish(ctx, topic, []byte(w), client.CorrelationID("c-"+w), client.ContentType("text/plain")); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Close(ctx); err != nil {
				t.Fatal(err)
			}
			got := recv(t, sub, n, 20*time.Second)
			checkPayloads(t, got, want)
			checkSequences(t, got, 1)
			ids := map[string]bool{}
			for i, m := range got {
				if m.CorrelationID != "c-"+want[i] || m.ContentType != "text/plain" || m.Topic != topic || m.Source != d.InstanceID() || len(m.ID) != 36 || ids[m.ID] {
					t.Fatalf("message %d: %+v", i, m)
				}
				ids[m.ID] = true
			}
			// A cut: the subscription resumes, and what follows arrives.
			px.Cut(false)
			publishAll(t, dial(t, d.App), topic, payloads("after", 0, 10))
			after := recv(t, sub, 10, 20*time.Second)
			checkPayloads(t, after, payloads("after", 0, 10))
			checkSequences(t, after, n+1)

			packedCalls := cc.get("PublishPacked") + cc.get("SubscribePacked")
			v1Calls := cc.get("PublishStream") + cc.get("Subscribe") + cc.get("ResumeSubscribe")
			switch {
			case mode.session && (cc.get("PublishPacked") != 1 || cc.get("Session") < 2 || cc.get("SubscribePacked") != 0 || v1Calls != 0):
				t.Fatalf("calls %v: want one PublishPacked, a Session and the one after the cut, no other subscription call", cc.calls)
			case packed && !mode.session && (cc.get("PublishPacked") != 1 || cc.get("SubscribePacked") < 2 || cc.get("Session") != 0 || v1Calls != 0):
				t.Fatalf("calls %v: want one PublishPacked, a SubscribePacked and its resume, no v1 call", cc.calls)
			case !packed && (packedCalls+cc.get("Session") != 0 || cc.get("PublishStream") != 1 || cc.get("Subscribe") != 1 || cc.get("ResumeSubscribe") < 1):
				t.Fatalf("calls %v: want the v1 calls only", cc.calls)
			}
		})
	}
}
