package netshell

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/nexusd/nexusd/state"
)

// A publish frame waits while a link is backed up, goes on when it
// drains, and waits at most the bound; the waits are counted.
func TestPublishersWaitForABackedUpLinkAtMostTheBound(t *testing.T) {
	clk := clock.NewMock()
	var waits atomic.Uint64
	pp := peerPressure{waits: &waits}
	ctx := context.Background()
	if err := pp.wait(ctx, clk, time.Second); err != nil || waits.Load() != 0 {
		t.Fatalf("no pressure: wait = %v, %d waits", err, waits.Load())
	}

	pp.set(true)
	done := make(chan error, 1)
	go func() { done <- pp.wait(ctx, clk, time.Second) }()
	select {
	case err := <-done:
		t.Fatalf("returned %v while the link is backed up", err)
	case <-time.After(20 * time.Millisecond):
	}
	pp.set(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	pp.set(true)
	go func() { done <- pp.wait(ctx, clk, time.Second) }()
	for waits.Load() < 2 { // the waiter has armed its timer
		time.Sleep(time.Millisecond)
	}
	clk.Add(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := pp.wait(cctx, clk, time.Second); err == nil {
		t.Fatal("a cancelled publisher kept waiting without an error")
	}
	if waits.Load() != 3 {
		t.Errorf("%d waits counted, want 3", waits.Load())
	}
}

// backedUpLink is a loop whose node pushes topic t/x to a peer that
// answers no push, and the publishes of frames frames of per messages,
// all posted before the loop takes the first: every publisher's credit
// in the loop's queue at once.
func backedUpLink(t *testing.T, frames, per int) (*loopHarness, replyChan) {
	h := newLoopHarness(t)
	h.syncedPeer("peer-1", "t/#")
	answers := make(replyChan, frames*per)
	for i := range frames {
		pubs := make([]state.Published, per)
		for j := range pubs {
			pubs[j] = state.Published{Req: uint64(1000 + i*per + j), Topic: "t/x", Payload: []byte("p")}
		}
		if err := h.l.post(context.Background(), input{ev: &state.PublishedBatch{Pubs: pubs}, reply: answers}); err != nil {
			t.Fatal(err)
		}
	}
	h.barrier()
	return h, answers
}

// Publishes the loop takes while a peer's link is backed up wait in the
// loop, in order, instead of overflowing the link's backlog: 16 frames
// of 1024 behind a window of 4096 unanswered pushes would pass the
// backlog's 10000 and shed. They go on as the link drains.
func TestPublishesPostedBeforeTheLinkBackedUpWaitInTheLoop(t *testing.T) {
	const frames, per = 16, 1024
	h, _ := backedUpLink(t, frames, per)
	c, s := h.counters()
	if c.BacklogDropped != 0 {
		t.Fatalf("the backlog shed %d messages of publishers that kept to their credit", c.BacklogDropped)
	}
	if s.PublishesHeld == 0 || c.Published == frames*per {
		t.Fatalf("%d publishes taken, %d frames held: want some held while the link is backed up", c.Published, s.PublishesHeld)
	}
	// The peer answers everything pushed, again and again: the link
	// drains, and the held frames go, in the order they came, as soon as
	// an answer ends the pressure: answers are taken ahead of requests, so
	// the answer itself must let them go, not a request after it.
	for range 64 {
		h.net.mu.Lock()
		calls := h.net.pushes
		h.net.pushes = nil
		h.net.mu.Unlock()
		for _, call := range calls {
			h.l.complete(&state.PushCompleted{Call: call})
		}
		h.query(func(l *loop) {
			if !l.pressure.backed.Load() && len(l.held) > 0 {
				t.Errorf("%d frames held while no link is backed up", len(l.held))
			}
		})
		if c, _ = h.counters(); c.Published == frames*per && len(calls) == 0 {
			break
		}
	}
	var held int
	h.query(func(l *loop) { held = len(l.held) })
	if c.Published != frames*per || held != 0 || c.BacklogDropped != 0 {
		t.Fatalf("after the link drained: %d of %d published, %d frames still held, %d shed", c.Published, frames*per, held, c.BacklogDropped)
	}
}

// A link that never drains holds its publishers only as long as the
// bound: then the held publishes go, and the backlog sheds, as before.
func TestHeldPublishesGoWhenTheBoundPasses(t *testing.T) {
	const frames, per = 16, 1024
	h, _ := backedUpLink(t, frames, per)
	if c, _ := h.counters(); c.Published == frames*per {
		t.Fatal("nothing was held")
	}
	h.advance(testBlockTimeout - time.Millisecond)
	if c, _ := h.counters(); c.Published == frames*per {
		t.Fatal("held publishes went before the bound")
	}
	h.advance(time.Millisecond)
	c, _ := h.counters()
	if c.Published != frames*per || c.BacklogDropped == 0 {
		t.Fatalf("past the bound: %d of %d published, %d shed; want all taken and the backlog shedding", c.Published, frames*per, c.BacklogDropped)
	}
}
