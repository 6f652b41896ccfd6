package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testnet"
)

// TestSubscriptionsShareOneSession: a client's subscriptions share one
// Session. Each gets its own messages in order; one whose application
// never reads fills its own queue in the daemon (its policy drops there)
// and holds up none of the others. When the connection breaks, every
// subscription of the session resumes on a new one from its last
// sequence numbers, by id, and replays what it missed.
func TestSubscriptionsShareOneSession(t *testing.T) {
	d := daemon(t)
	px := newProxy(t, d.App)
	rec := &recorder{}
	sc := dial(t, px.Addr(), client.WithBackoff(fast), client.WithStateHandler(rec.state), client.WithGapHandler(rec.gap))
	pub := dial(t, d.App)
	ctx := ctxT(t, 60*time.Second)
	stuck, err := sc.Subscribe(ctx, []string{"many/stuck"}, client.BufferSize(0), client.QueueLimit(20),
		client.BackpressurePolicy(client.DropOldest), client.OnGap(func(client.Gap) {}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	subs := make([]*client.Subscription, n)
	for i := range subs {
		if subs[i], err = sc.Subscribe(ctx, []string{fmt.Sprintf("many/%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := client.SessionsOpened(sc); got != 1 {
		t.Fatalf("%d sessions opened for %d subscriptions, want 1", got, n+1)
	}
	p, err := pub.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		p.Publish(ctx, "many/stuck", fmt.Appendf(nil, "s%d", i))
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i, s := range subs {
		publishAll(t, pub, fmt.Sprintf("many/%d", i), payloads("a", 0, 20))
		got := recv(t, s, 20, 10*time.Second)
		checkPayloads(t, got, payloads("a", 0, 20))
		checkSequences(t, got, 1)
	}
	testnet.Eventually(t, 5*time.Second, "the unread subscription's queue to drop", func() error {
		st, err := statusOf(d)
		if err != nil {
			return err
		}
		for _, s := range st.Subscriptions {
			if s.ID == stuck.ID() && s.Dropped > 0 && s.Queued == 20 {
				return nil
			}
		}
		return fmt.Errorf("subscriptions %+v, want %s full and dropping", st.Subscriptions, stuck.ID())
	})

	ids := make([]string, n)
	for i, s := range subs {
		ids[i] = s.ID()
	}
	px.Block(true)
	px.Cut(true)
	rec.waitState(t, client.StateDisconnected, 1, 5*time.Second)
	for i := range subs {
		publishAll(t, pub, fmt.Sprintf("many/%d", i), payloads("b", 0, 10))
	}
	px.Block(false)
	for i, s := range subs {
		got := recv(t, s, 10, 15*time.Second)
		checkPayloads(t, got, payloads("b", 0, 10))
		checkSequences(t, got, 21)
		checkKinds(t, got, client.Replayed)
		if s.ID() != ids[i] {
			t.Errorf("subscription %d is %s after the break, %s before: want it resumed by id", i, s.ID(), ids[i])
		}
		if last := s.LastSequences()[fmt.Sprintf("many/%d", i)]; last != 30 {
			t.Errorf("subscription %d: last sequence %d, want 30", i, last)
		}
	}
	if gaps := rec.Gaps(); len(gaps) != 0 {
		t.Errorf("gaps %+v, want none", gaps)
	}
	if got := client.SessionsOpened(sc); got != 2 {
		t.Errorf("%d sessions opened, want the first and one after the break", got)
	}
	if err := subs[0].Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	publishAll(t, pub, "many/1", payloads("c", 0, 5))
	checkPayloads(t, recv(t, subs[1], 5, 10*time.Second), payloads("c", 0, 5))
}
