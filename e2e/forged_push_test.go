package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/meshpb"
)

// TestForgedPushDoesNotStopTheFlow: an envelope pushed straight to a
// daemon's mesh port in the name of a real peer cannot wedge or split
// what that peer sends. One claiming a source_sequence far beyond any the
// peer issued is refused (counted as sequence_implausible), and the
// peer's real messages keep reaching the subscriber, in order; a retained
// one stamped in the far future is never stored: the daemon would ask the
// peer to vouch for it, and (this one unnumbered) refuses it at once,
// counted as retained_future, so the peer's later real retained value is
// what every daemon holds.
func TestForgedPushDoesNotStopTheFlow(t *testing.T) {
	testnet.Require(t)
	cluster, port := newCluster(t)
	nodes := launchMesh(t, testnet.Config{Name: "a", Cluster: cluster, McastPort: port}, testnet.Config{Name: "b", Cluster: cluster, McastPort: port})
	a, b := nodes[0], nodes[1]

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	conn, err := grpc.NewClient(b.Mesh, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bMesh := meshpb.NewMeshServiceClient(conn)
	dial := func(n *node) *client.Client {
		t.Helper()
		c, err := client.Dial(ctx, n.App, wireOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	pub, subc := dial(a), dial(b)

	t.Run("huge source_sequence", func(t *testing.T) {
		const topic = "forge/seq"
		var mu sync.Mutex
		var gaps []client.Gap
		s, err := subc.Subscribe(ctx, []string{topic}, client.OnGap(func(g client.Gap) {
			mu.Lock()
			gaps = append(gaps, g)
			mu.Unlock()
		}))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Unsubscribe(ctx)
		a.waitRoute(b, topic)
		publish := func(payloads []string) {
			t.Helper()
			for _, p := range payloads {
				r, err := pub.Publish(ctx, topic, []byte(p))
				if err != nil || r.SubscriberCount != 1 {
					t.Fatalf("publish %s on a: reached %d (%v), want 1 (b)", p, r.SubscriberCount, err)
				}
			}
		}
		before, after := payloads("before", 0, 5), payloads("after", 0, 50)
		publish(before)
		got := receive(t, s, len(before), 10*time.Second)

		forged := &meshpb.MessageEnvelope{MessageId: newUUID(), Topic: topic, Payload: []byte("forged"),
			TimestampMs: time.Now().UnixMilli(), SourceNodeId: a.id, SourceSequence: 1 << 50, PrevSourceSequence: 0}
		ack, err := bMesh.PushMessage(ctx, forged)
		if err != nil {
			t.Fatalf("forged push: %v", err)
		}
		t.Logf("b answered the forged push (source_sequence 2^50): %v", ack)

		began := time.Now()
		publish(after)
		got = append(got, receive(t, s, len(after), 20*time.Second)...)
		t.Logf("the %d messages published after the forgery all arrived %s after the first was sent", len(after), time.Since(began).Round(time.Millisecond))
		var want []string
		want = append(append(want, before...), after...)
		for i, m := range got {
			if string(m.Payload) == "forged" {
				t.Errorf("the forged message was delivered (sequence %d)", m.Sequence)
			}
			if string(m.Payload) != want[i] {
				t.Fatalf("message %d: %q, want %q (order, duplicate or the forgery)", i, m.Payload, want[i])
			}
		}
		for i := 1; i < len(got); i++ {
			if got[i].Sequence <= got[i-1].Sequence {
				t.Errorf("sequence %d after %d", got[i].Sequence, got[i-1].Sequence)
			}
		}
		testnet.Eventually(t, 10*time.Second, "b counts the forgery refused", func() error {
			if v := b.Metric(`nexusd_rejected_total{reason="sequence_implausible"}`); v < 1 {
				return fmt.Errorf("sequence_implausible = %v", v)
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		t.Logf("sequences %d..%d for %d messages; gaps reported: %v", got[0].Sequence, got[len(got)-1].Sequence, len(got), gaps)
		if len(gaps) > 1 {
			t.Errorf("%d gaps reported, want at most one: %v", len(gaps), gaps)
		}
		logMetrics(t, b, `nexusd_rejected_total{reason="sequence_implausible"}`, `nexusd_rejected_total{reason="sequence_unverified"}`,
			"nexusd_mesh_gaps_total", "nexusd_mesh_gap_messages_total", `nexusd_messages_dropped_total{reason="late"}`)
	})

	t.Run("retained stamped in the far future", func(t *testing.T) {
		const topic = "forge/retained"
		forged := &meshpb.MessageEnvelope{MessageId: newUUID(), Topic: topic, Payload: []byte("forged"),
			TimestampMs: 9e18, SourceNodeId: a.id, Retain: true}
		ack, err := bMesh.PushMessage(ctx, forged)
		if err != nil {
			t.Fatalf("forged push: %v", err)
		}
		t.Logf("b answered the forged retained push (timestamp_ms 9e18): %v", ack)
		if ack.GetMessageId() != forged.GetMessageId() {
			t.Errorf("forged retained push answered %v, for another message", ack)
		}
		testnet.Eventually(t, 5*time.Second, "b counts the refused value", func() error {
			if v := b.Metric(`nexusd_rejected_total{reason="retained_future"}`); v < 1 {
				return fmt.Errorf("retained_future = %v, want the refusal counted", v)
			}
			return nil
		})
		if _, err := pub.Publish(ctx, topic, []byte("real"), client.Retain()); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*node{a, b} {
			c := pub
			if n == b {
				c = subc
			}
			var last string
			testnet.Eventually(t, 10*time.Second, n.name+" holds the real retained value", func() error {
				last = retainedValue(ctx, c, topic)
				if last != "real" {
					return fmt.Errorf("a new subscriber there gets %s", last)
				}
				return nil
			})
			t.Logf("%s: a new subscriber gets %s", n.name, last)
		}
	})
}

// receive reads count messages from s within timeout.
func receive(t *testing.T, s *client.Subscription, count int, timeout time.Duration) []*client.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var out []*client.Message
	for len(out) < count {
		m, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), count, err)
		}
		out = append(out, m)
	}
	return out
}

// retainedValue is what a new subscriber to topic on c's daemon is given
// as its retained value, described for a test's message.
func retainedValue(ctx context.Context, c *client.Client, topic string) string {
	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := c.Subscribe(wait, []string{topic}, client.ReceiveRetained())
	if err != nil {
		return fmt.Sprintf("no subscription (%v)", err)
	}
	defer s.Unsubscribe(ctx)
	m, err := s.Next(wait)
	switch {
	case err != nil:
		return fmt.Sprintf("nothing (%v)", err)
	case m.Kind != client.Retained:
		return fmt.Sprintf("a %s message %q", m.Kind, m.Payload)
	}
	return string(m.Payload)
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
