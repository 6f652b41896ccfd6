package client_test

import (
	"context"
	"testing"
	"time"
)

// Replies beyond the first to one request are dropped, and never hold up
// the replies to later requests (the inbox forgets a request's address
// once its reply came).
func TestExtraRepliesToOneRequestDoNotHoldUpTheNext(t *testing.T) {
	d := daemon(t)
	req, resp := dial(t, d.App), dial(t, d.App)
	ctx := ctxT(t, 30*time.Second)
	sctx, cancel := context.WithCancel(ctx)
	sub, err := resp.Subscribe(sctx, []string{"svc/echo"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	go func() {
		defer close(done)
		for m := range sub.C() {
			for range 3 { // three answers to every request
				if err := resp.Reply(sctx, m, m.Payload); err != nil && sctx.Err() == nil {
					t.Errorf("reply to %s: %v", m.Topic, err)
				}
			}
		}
	}()
	for _, p := range []string{"one", "two", "three"} {
		rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := req.Request(rctx, "svc/echo", []byte(p))
		rcancel()
		if err != nil {
			t.Fatalf("request %q: %v", p, err)
		}
		if string(m.Payload) != p {
			t.Fatalf("request %q: reply %q", p, m.Payload)
		}
	}
}
