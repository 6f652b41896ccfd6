package client_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testnet"
)

// TestPublisherSettlesEveryMessage: a stream publisher numbers messages
// 1, 2, 3...; the daemon publishes them in order; one it refuses is
// reported by its number, to the handler and by Flush, and does not hold
// back the others; a bad topic fails at once; after Close, Publish fails.
func TestPublisherSettlesEveryMessage(t *testing.T) {
	d := daemon(t)
	rec := &recorder{}
	c := dial(t, d.App)
	ctx := ctxT(t, 60*time.Second)
	sub, err := c.Subscribe(ctx, []string{"pub/#"}, client.MaxBatch(256))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Publisher(ctx, client.OnPublishError(rec.failure), client.PublishBatchSize(100), client.MaxPending(500))
	if err != nil {
		t.Fatal(err)
	}
	want := payloads("p", 0, 4000)
	var bad uint64
	for i, w := range want {
		n, err := p.Publish(ctx, "pub/t", []byte(w))
		if err != nil || n != uint64(i+1+min(i/2000, 1)) {
			t.Fatalf("publish %d: number %d, %v", i, n, err)
		}
		if i == 1999 {
			if bad, err = p.Publish(ctx, "pub/big", make([]byte, 1<<20+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := p.Publish(ctx, "pub/+", nil); !errors.Is(err, client.ErrInvalidTopic) {
		t.Fatalf("publish to a wildcard: %v", err)
	}
	err = p.Flush(ctx)
	var pe *client.PublishErrors
	if !errors.As(err, &pe) || len(pe.Failures) != 1 || pe.Failures[0].N != bad || pe.Failures[0].Topic != "pub/big" ||
		!errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "--max-payload") {
		t.Fatalf("Flush: %v, want message %d refused for its size", err, bad)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("second Flush: %v, want nothing new", err)
	}
	got := recv(t, sub, len(want), 20*time.Second)
	checkPayloads(t, got, want)
	checkSequences(t, got, 1)
	testnet.Eventually(t, 2*time.Second, "the failure handler", func() error {
		if f := rec.Failures(); len(f) != 1 || f[0].N != bad {
			return fmt.Errorf("failures %+v", f)
		}
		return nil
	})
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "pub/t", nil); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("publish after Close: %v", err)
	}
}

// TestPublisherStreamBreak: when the publish stream breaks, only the
// messages sent and not yet acknowledged fail (ErrUnavailable: they may
// or may not have been published); the publisher opens a new stream for
// the rest, and every message that did not fail is delivered, once, in
// order.
func TestPublisherStreamBreak(t *testing.T) {
	d := daemon(t)
	px := newProxy(t, d.App)
	c := dial(t, px.Addr(), client.WithBackoff(fast))
	direct := dial(t, d.App)
	ctx := ctxT(t, 60*time.Second)
	sub, err := direct.Subscribe(ctx, []string{"brk/#"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Publisher(ctx, client.PublishBatchSize(10))
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := range n {
		if i == n/3 {
			px.Cut(true)
		}
		if _, err := p.Publish(ctx, "brk/t", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	failed := map[int]bool{}
	var pe *client.PublishErrors
	if err := p.Flush(ctx); errors.As(err, &pe) {
		for _, f := range pe.Failures {
			if !errors.Is(f.Err, client.ErrUnavailable) {
				t.Fatalf("failure %+v, want ErrUnavailable", f)
			}
			failed[int(f.N)-1] = true
		}
	} else if err != nil {
		t.Fatal(err)
	}
	// Every message that did not fail arrives, in publish order; a failed
	// one may arrive too, in its place, even after the last that did not
	// fail (its ack was what the break lost).
	prev, seen := -1, 0
	nextWanted := func() int {
		i := prev + 1
		for i < n && failed[i] {
			i++
		}
		return i
	}
	take := func(m *client.Message) {
		i, _ := strconv.Atoi(string(m.Payload))
		if w := nextWanted(); i <= prev || i > w {
			t.Fatalf("received %d after %d, want %d next (failed: %d)", i, prev, w, len(failed))
		}
		prev = i
		seen++
	}
	for nextWanted() < n {
		take(recv(t, sub, 1, 10*time.Second)[0])
	}
	for {
		select {
		case m, ok := <-sub.C():
			if !ok {
				t.Fatal("subscription ended")
			}
			take(m)
		case <-time.After(200 * time.Millisecond):
			t.Logf("%d messages in doubt when the stream broke; %d delivered", len(failed), seen)
			return
		}
	}
}

// A message no packed frame can hold (its content type is over the limit)
// fails alone, by its number, before it is sent: the next message settles
// as published, and Flush returns at once.
func TestAnUnpackableMessageFailsAloneByItsNumber(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App)
	ctx := ctxT(t, 10*time.Second)
	p, err := c.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "unpackable/1", []byte("bad"), client.ContentType(strings.Repeat("x", 300))); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "unpackable/1", []byte("ok")); err != nil {
		t.Fatal(err)
	}
	err = p.Flush(ctxT(t, 5*time.Second))
	var pe *client.PublishErrors
	if !errors.As(err, &pe) || len(pe.Failures) != 1 || pe.Failures[0].N != 1 {
		t.Fatalf("flush: %v, want message 1 alone failed", err)
	}
}
