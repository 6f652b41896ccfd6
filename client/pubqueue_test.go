package client

import (
	"context"
	"fmt"
	"testing"

	"github.com/nexusd/nexusd/internal/packed"
)

// TestPubQueueKeepsOrderAcrossReuse: items come out in the order they
// went in while the array is compacted and reused, and prepend puts a
// stream's items back before the queue's.
func TestPubQueueKeepsOrderAcrossReuse(t *testing.T) {
	var q pubQueue
	next, want := uint64(1), uint64(1)
	for round := range 200 {
		for range round%4 + 1 {
			q.push(pubItem{n: next})
			next++
		}
		take := min(q.len()-1, round%6+1) // one always stays: the array never empties
		for i := range take {
			if got := q.all()[i].n; got != want {
				t.Fatalf("round %d: item %d is message %d, want %d", round, i, got, want)
			}
			want++
		}
		q.drop(take)
	}
	if cap(q.items) > 32 {
		t.Fatalf("the array grew to %d for a queue of %d: taken items are not reused", cap(q.items), q.len())
	}
	var back pubQueue
	back.push(pubItem{n: 100})
	back.push(pubItem{n: 101})
	q.prepend(back.all())
	if q.first().n != 100 || q.all()[1].n != 101 || q.len() > 2 && q.all()[2].n != want {
		t.Fatalf("after prepend the queue begins %d, %d", q.all()[0].n, q.all()[1].n)
	}
	q.drop(q.len())
	if q.len() != 0 || q.head != 0 {
		t.Fatalf("an emptied queue has len %d, head %d", q.len(), q.head)
	}
}

// TestPublishAllocatesNothingForTheMessage: a Publish without options
// of a lent payload queues the message in the Publisher's array, with no
// allocation of its own.
func TestPublishAllocatesNothingForTheMessage(t *testing.T) {
	p := queuedPublisher(LendPayloads())
	payload := []byte("payload")
	allocs := testing.AllocsPerRun(2000, func() {
		if _, err := p.Publish(context.Background(), "t", payload); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Publish allocates %.1f times a message", allocs)
	}
	if got := p.queue.all()[0]; got.topic != "t" || string(got.payload) != "payload" || got.opt != nil {
		t.Fatalf("queued %+v", got)
	}
}

// A sender fills one record for every message of a frame, so the options
// one publish sets must not show in the next one's record.
func TestARecordCarriesOnlyItsPublishsOptions(t *testing.T) {
	items := []pubItem{
		{topic: "a/1", payload: []byte("one"), opt: &publishOptions{retain: true, contentType: "text/plain", correlationID: "c", ttlMs: 900, replyTo: "_inbox/r"}},
		{topic: "a/2", payload: []byte("two")},
		{topic: "a/3", payload: []byte("three"), opt: &publishOptions{correlationID: "d"}},
	}
	var r packed.Record
	for i := range items {
		items[i].record(&r)
		want := packed.Record{Topic: items[i].topic, Payload: items[i].payload}
		if o := items[i].opt; o != nil {
			want.ContentType, want.Correlation, want.TTLMs, want.Retain, want.ReplyTo = o.contentType, o.correlationID, o.ttlMs, o.retain, o.replyTo
		}
		if fmt.Sprintf("%+v", r) != fmt.Sprintf("%+v", want) {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, r, want)
		}
	}
}
