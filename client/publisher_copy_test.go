package client

import (
	"context"
	"testing"
)

// queuedPublisher is a Publisher whose sender never runs: what Publish
// queues stays in p.queue.
func queuedPublisher(opts ...PublisherOption) *Publisher {
	o := publisherOptions{batch: 1024, maxPending: 1 << 20}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			panic(err)
		}
	}
	return &Publisher{o: o, ctx: context.Background(), next: 1, wake: make(chan struct{}, 1), changed: make(chan struct{})}
}

// TestPublishCopiesThePayload: by default the caller may reuse its buffer
// as soon as Publish returns; the queued messages keep what was given.
func TestPublishCopiesThePayload(t *testing.T) {
	p := queuedPublisher()
	buf := make([]byte, 8)
	for i := range 100 {
		for j := range buf {
			buf[j] = byte(i)
		}
		if _, err := p.Publish(context.Background(), "t", buf); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 4<<10) // over copyChunkMax: a copy of its own
	big[0] = 'x'
	if _, err := p.Publish(context.Background(), "t", big); err != nil {
		t.Fatal(err)
	}
	big[0] = 'y'
	for i, it := range p.queue.all()[:100] {
		if got := it.payload; len(got) != 8 || got[0] != byte(i) || got[7] != byte(i) {
			t.Fatalf("message %d holds %v, want eight %d", i, got, i)
		}
		if cap(it.payload) != len(it.payload) {
			t.Fatalf("message %d's copy has room past its end: appending to it would overwrite the next", i)
		}
	}
	if got := p.queue.all()[100].payload; got[0] != 'x' {
		t.Fatalf("the large payload was not copied: it begins %q", got[0])
	}
}

// TestLendPayloadsKeepsTheCallersBuffer: with LendPayloads the queued
// message is the caller's bytes themselves.
func TestLendPayloadsKeepsTheCallersBuffer(t *testing.T) {
	p := queuedPublisher(LendPayloads())
	buf := []byte("lent")
	if _, err := p.Publish(context.Background(), "t", buf); err != nil {
		t.Fatal(err)
	}
	if &p.queue.all()[0].payload[0] != &buf[0] {
		t.Fatal("a lent payload was copied")
	}
}
