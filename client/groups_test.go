package client_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
)

// Two members of one queue group on a daemon split a topic's messages in
// turn, each numbering its share 1, 2, 3...; an ordinary subscription gets
// them all; each publish counts the ordinary subscription and the member.
func TestQueueGroupMembersSplitMessages(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App)
	ctx := ctxT(t, 30*time.Second)
	a, err := c.Subscribe(ctx, []string{"jobs/#"}, client.QueueGroup("workers"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Subscribe(ctx, []string{"jobs/+"}, client.QueueGroup("workers"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.Subscribe(ctx, []string{"jobs/#"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads("j", 0, 20) {
		res, err := c.Publish(ctx, "jobs/build", []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		if res.SubscriberCount != 2 {
			t.Fatalf("publish %s counted %d subscribers, want 2 (the ordinary one and one member)", p, res.SubscriberCount)
		}
	}
	checkPayloads(t, recv(t, all, 20, 5*time.Second), payloads("j", 0, 20))
	ga, gb := recv(t, a, 10, 5*time.Second), recv(t, b, 10, 5*time.Second)
	checkSequences(t, ga, 1)
	checkSequences(t, gb, 1)
	seen := map[string]int{}
	for _, m := range append(ga, gb...) {
		seen[string(m.Payload)]++
	}
	for _, p := range payloads("j", 0, 20) {
		if seen[p] != 1 {
			t.Fatalf("%s reached the group %d times: a got %v, b got %v", p, seen[p], ga, gb)
		}
	}
}

func TestQueueGroupNameIsChecked(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App)
	ctx := ctxT(t, 10*time.Second)
	for _, g := range []string{"", strings.Repeat("x", 129), "a\nb"} {
		_, err := c.Subscribe(ctx, []string{"t"}, client.QueueGroup(g))
		if !isKind(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "queue_group") {
			t.Fatalf("group %q: %v, want an invalid argument naming queue_group", g, err)
		}
	}
}

// A member whose daemon restarts is subscribed to its group again (a
// resume by topics would make it an ordinary subscription): it numbers
// its share from 1 again, and no gap is reported for that.
func TestQueueGroupMemberSurvivesDaemonRestart(t *testing.T) {
	d := daemon(t)
	px := newProxy(t, d.App)
	rec := &recorder{}
	sc := dial(t, px.Addr(), client.WithBackoff(fast), client.WithGapHandler(rec.gap))
	ctx := ctxT(t, 60*time.Second)
	m, err := sc.Subscribe(ctx, []string{"jobs/#"}, client.QueueGroup("workers"))
	if err != nil {
		t.Fatal(err)
	}
	pub := dial(t, d.App, client.WithBackoff(fast))
	publishAll(t, pub, "jobs/a", payloads("a", 0, 3))
	checkSequences(t, recv(t, m, 3, 5*time.Second), 1)

	d.Kill()
	px.Cut(true)
	d2 := restart(t, d)
	pub2 := dial(t, d2.App, client.WithBackoff(fast))
	deadline := time.Now().Add(15 * time.Second)
	for {
		topics, err := pub2.Topics(ctx)
		if err == nil && topics["jobs/#"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the member is not back on the new run: %v, %v", topics, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	publishAll(t, pub2, "jobs/a", payloads("b", 0, 3))
	got := recv(t, m, 3, 5*time.Second)
	checkPayloads(t, got, payloads("b", 0, 3))
	checkSequences(t, got, 1)
	if g := rec.Gaps(); len(g) != 0 {
		t.Fatalf("gaps reported: %+v", g)
	}
	// Still a member: with a second one, the two share what follows.
	m2, err := pub2.Subscribe(ctx, []string{"jobs/+"}, client.QueueGroup("workers"))
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, pub2, "jobs/a", payloads("c", 0, 4))
	seen := map[string]bool{}
	for _, got := range [][]*client.Message{recv(t, m, 2, 5*time.Second), recv(t, m2, 2, 5*time.Second)} {
		for _, msg := range got {
			if seen[string(msg.Payload)] {
				t.Fatalf("%s reached both members", msg.Payload)
			}
			seen[string(msg.Payload)] = true
		}
	}
}
