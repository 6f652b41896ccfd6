package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testnet"
)

// TestPublishSubscribeCarriesEveryField: a subscription opened with
// ReceiveRetained gets the retained value first, then live messages in
// order with every field the publisher set, numbered 1, 2, 3...; the
// topic list counts it; a message whose TTL ran out is never delivered.
func TestPublishSubscribeCarriesEveryField(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App)
	ctx := ctxT(t, 30*time.Second)
	if _, err := c.Publish(ctx, "cfg/mode", []byte("eco"), client.Retain()); err != nil {
		t.Fatal(err)
	}
	sub, err := c.Subscribe(ctx, []string{"cfg/#", "sensors/+/temp"}, client.ReceiveRetained())
	if err != nil {
		t.Fatal(err)
	}
	if sub.ID() == "" || !slices.Equal(sub.Topics(), []string{"cfg/#", "sensors/+/temp"}) {
		t.Fatalf("subscription id %q topics %v", sub.ID(), sub.Topics())
	}
	first := recv(t, sub, 1, 5*time.Second)[0]
	if first.Kind != client.Retained || string(first.Payload) != "eco" || first.Topic != "cfg/mode" {
		t.Fatalf("first message %+v, want the retained value", first)
	}
	res, err := c.Publish(ctx, "sensors/kitchen/temp", []byte(`{"c":21.5}`), client.ContentType("application/json"),
		client.CorrelationID("req-7"), client.TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.MessageID == "" || res.SubscriberCount != 1 {
		t.Fatalf("publish answered %+v, want an id and 1 subscriber", res)
	}
	m := recv(t, sub, 1, 5*time.Second)[0]
	switch {
	case m.ID != res.MessageID, m.Topic != "sensors/kitchen/temp", string(m.Payload) != `{"c":21.5}`,
		m.ContentType != "application/json", m.CorrelationID != "req-7", m.Kind != client.Live,
		m.Sequence != 1, m.Source != c.ServerID(), time.Since(m.Timestamp) > time.Minute:
		t.Fatalf("delivered %+v", m)
	}
	if c.ServerID() != d.InstanceID() {
		t.Fatalf("ServerID %q, want the daemon's %q", c.ServerID(), d.InstanceID())
	}
	publishAll(t, c, "sensors/hall/temp", payloads("h", 0, 20))
	got := recv(t, sub, 20, 5*time.Second)
	checkPayloads(t, got, payloads("h", 0, 20))
	checkSequences(t, got, 1)

	topics, err := c.Topics(ctx)
	if err != nil || topics["cfg/#"] != 1 || topics["sensors/+/temp"] != 1 {
		t.Fatalf("topics %v (%v)", topics, err)
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	for m := range sub.C() {
		t.Fatalf("message after Unsubscribe: %+v", m)
	}
	if sub.Err() != nil {
		t.Fatalf("Err after Unsubscribe: %v", sub.Err())
	}
	if _, err := sub.Next(ctx); !errors.Is(err, client.ErrSubscriptionEnded) {
		t.Fatalf("Next after Unsubscribe: %v", err)
	}
	topics, _ = c.Topics(ctx)
	if len(topics) != 0 {
		t.Fatalf("topics after unsubscribe: %v", topics)
	}
}

// TestMessagesIteratorAndBatchedDelivery: a subscription with MaxBatch
// receives messages the daemon packs into batches one by one, in order,
// through the iterator.
func TestMessagesIteratorAndBatchedDelivery(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App)
	ctx := ctxT(t, 30*time.Second)
	sub, err := c.Subscribe(ctx, []string{"b/#"}, client.MaxBatch(64))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := payloads("b", 0, 3000)
	for _, w := range want {
		if _, err := p.Publish(ctx, "b/x", []byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var got []*client.Message
	for m := range sub.Messages(ctx) {
		if got = append(got, m); len(got) == len(want) {
			break
		}
	}
	checkPayloads(t, got, want)
	checkSequences(t, got, 1)
}

// TestPeersAndMeshRouting: two daemons of one cluster mesh; each client
// lists the other daemon as an alive peer with its patterns, and a message
// published on one reaches a subscriber on the other.
func TestPeersAndMeshRouting(t *testing.T) {
	cl, port := cluster(t)
	a := testnet.Start(t, testnet.Config{Name: "a", Cluster: cl, McastPort: port})
	b := testnet.Start(t, testnet.Config{Name: "b", Cluster: cl, McastPort: port})
	ca, cb := dial(t, a.App), dial(t, b.App)
	ctx := ctxT(t, 30*time.Second)
	sub, err := cb.Subscribe(ctx, []string{"mesh/#"})
	if err != nil {
		t.Fatal(err)
	}
	bID := b.InstanceID()
	testnet.Eventually(t, 10*time.Second, "a routes mesh/# to b", func() error {
		peers, err := ca.Peers(ctx)
		if err != nil {
			return err
		}
		for _, p := range peers {
			if p.ID == bID && p.Status == "alive" && slices.Contains(p.Topics, "mesh/#") && p.Cluster == cl &&
				p.TopicStateHash != 0 && time.Since(p.LastSeen) < 5*time.Second && strings.HasPrefix(p.Endpoint, "127.0.0.1:") {
				return nil
			}
		}
		return fmt.Errorf("a's peers: %+v", peers)
	})
	res, err := ca.Publish(ctx, "mesh/hello", []byte("across"))
	if err != nil || res.SubscriberCount != 1 {
		t.Fatalf("publish on a: %+v, %v; want 1 subscriber (b)", res, err)
	}
	m := recv(t, sub, 1, 5*time.Second)[0]
	if string(m.Payload) != "across" || m.Source != a.InstanceID() || m.Sequence != 1 {
		t.Fatalf("b received %+v", m)
	}
}

// TestErrorsAreTypedAndCarryTheStatus: a bad topic is refused before
// anything is sent, a payload over the daemon's limit by the daemon, an
// unknown subscription is NOT_FOUND, a request over a limit RESOURCE_EXHAUSTED, a
// missing token UNAUTHENTICATED, a daemon that is not there UNAVAILABLE:
// each matches its kind with errors.Is and its code with status.Code.
func TestErrorsAreTypedAndCarryTheStatus(t *testing.T) {
	d := daemon(t, "--app-token", "s3cret")
	c := dial(t, d.App, client.WithToken("s3cret"))
	ctx := ctxT(t, 60*time.Second)
	check := func(what string, err, kind error, code codes.Code) {
		t.Helper()
		if !isKind(err, kind) || status.Code(err) != code {
			t.Errorf("%s: %v (code %s), want %v and %s", what, err, status.Code(err), kind, code)
		}
	}
	_, err := c.Publish(ctx, "a/+/b", []byte("x"))
	check("publish to a wildcard", err, client.ErrInvalidTopic, codes.InvalidArgument)
	if !errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "wildcards") {
		t.Errorf("publish to a wildcard: %v, want also ErrInvalidArgument and the reason", err)
	}
	_, err = c.Subscribe(ctx, []string{"a/#/b"})
	check("subscribe to a/#/b", err, client.ErrInvalidTopic, codes.InvalidArgument)
	_, err = c.Subscribe(ctx, nil)
	check("subscribe to nothing", err, client.ErrInvalidTopic, codes.InvalidArgument)
	_, err = c.Publish(ctx, "big", make([]byte, 1<<20+1))
	check("oversized payload", err, client.ErrInvalidArgument, codes.InvalidArgument)
	if errors.Is(err, client.ErrInvalidTopic) || !strings.Contains(err.Error(), "--max-payload") {
		t.Errorf("oversized payload: %v, want the daemon's reason and not an invalid topic", err)
	}
	_, err = c.Subscribe(ctx, []string{"x"}, client.BackpressurePolicy("sometimes"))
	check("unknown policy", err, client.ErrInvalidArgument, codes.InvalidArgument)

	sub, err := c.Subscribe(ctx, []string{"e/1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = sub.Pause(ctx)
	check("pause after unsubscribe", err, client.ErrNotFound, codes.NotFound)

	// A payload far over --max-payload is still the daemon's refusal
	// naming it; only a request over gRPC's message limit (64 MiB) is not.
	_, err = c.Publish(ctx, "big", make([]byte, 5<<20))
	check("a 5 MiB payload", err, client.ErrInvalidArgument, codes.InvalidArgument)
	_, err = c.Publish(ctx, "huge", make([]byte, 65<<20))
	check("a message over the gRPC limit", err, client.ErrLimit, codes.ResourceExhausted)

	noToken := dial(t, d.App)
	_, err = noToken.Publish(ctx, "a", []byte("x"))
	check("publish without the token", err, client.ErrUnauthenticated, codes.Unauthenticated)
	if _, err := noToken.Ping(ctx); err != nil {
		t.Errorf("ping (health) needs no token: %v", err)
	}

	// Nothing listens on this port.
	dctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err = client.Dial(dctx, fmt.Sprintf("127.0.0.1:%d", testnet.Port()))
	check("dial a port nobody serves", err, client.ErrUnavailable, codes.Unavailable)
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("dial error %q does not say why", err)
	}
	if _, err := client.Dial(ctx, "no-port"); !isKind(err, client.ErrInvalidArgument) {
		t.Errorf("dial without a port: %v", err)
	}

	c.Close()
	_, err = c.Publish(ctx, "a", nil)
	check("publish after Close", err, client.ErrClosed, codes.Canceled)
}

// A payload over the daemon's limit gets the daemon's answer, naming
// --max-payload, whatever its size: the client does not refuse it first
// with gRPC's own size error.
func TestOversizedPayloadGetsTheDaemonsAnswer(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App)
	ctx := ctxT(t, 30*time.Second)
	for _, size := range []int{4 << 20, 20 << 20} {
		_, err := c.Publish(ctx, "big", make([]byte, size))
		if !errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "--max-payload") {
			t.Errorf("publish of %d bytes: %v, want ErrInvalidArgument naming --max-payload", size, err)
		}
	}
}
