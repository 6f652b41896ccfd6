package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
)

// TestCancellationLeaksNoGoroutine: ending a subscription's or a
// publisher's context ends their goroutines, whatever they were doing
// (reading, waiting for a reader that does not read, waiting to
// reconnect); so does a failed Dial, and Close ends the rest.
func TestCancellationLeaksNoGoroutine(t *testing.T) {
	d := daemon(t)
	d2 := daemon(t)
	checkLeaks := leakCheck(t)

	// A failed Dial leaves nothing behind.
	dctx, dcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if _, err := client.Dial(dctx, fmt.Sprintf("127.0.0.1:%d", 1)); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("dial port 1: %v", err)
	}
	dcancel()

	c, err := client.Dial(ctxT(t, 10*time.Second), d.App)
	if err != nil {
		t.Fatal(err)
	}
	subCtx, cancelSubs := context.WithCancel(context.Background())
	reading, err := c.Subscribe(subCtx, []string{"leak/a"})
	if err != nil {
		t.Fatal(err)
	}
	stuck, err := c.Subscribe(subCtx, []string{"leak/a"}, client.BufferSize(0)) // never read
	if err != nil {
		t.Fatal(err)
	}
	pubCtx, cancelPub := context.WithCancel(context.Background())
	p, err := c.Publisher(pubCtx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := p.Publish(pubCtx, "leak/a", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(pubCtx); err != nil {
		t.Fatal(err)
	}
	recv(t, reading, 50, 5*time.Second)
	cancelSubs()
	cancelPub()
	for _, s := range []*client.Subscription{reading, stuck} {
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a subscription outlived its context")
		}
		if !errors.Is(s.Err(), context.Canceled) {
			t.Fatalf("subscription ended with %v, want context.Canceled", s.Err())
		}
	}
	if _, err := p.Publish(context.Background(), "leak/a", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("publish after the publisher's context ended: %v", err)
	}

	// A subscription waiting to reconnect to a daemon that is gone.
	rec := &recorder{}
	c2, err := client.Dial(ctxT(t, 10*time.Second), d2.App, client.WithStateHandler(rec.state))
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancelWait := context.WithCancel(context.Background())
	waiting, err := c2.Subscribe(waitCtx, []string{"leak/b"})
	if err != nil {
		t.Fatal(err)
	}
	d2.Kill()
	rec.waitState(t, client.StateReconnecting, 1, 5*time.Second)
	cancelWait()
	<-waiting.Done()

	// Close ends subscriptions still open.
	open, err := c.Subscribe(context.Background(), []string{"leak/c"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c2.Close()
	<-open.Done()
	if !errors.Is(open.Err(), client.ErrClosed) {
		t.Fatalf("subscription ended by Close with %v, want ErrClosed", open.Err())
	}
	checkLeaks()
}
