package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testnet"
)

// respond answers every request on pattern through c with answer(msg)
// until the test ends.
func respond(t *testing.T, c *client.Client, pattern string, answer func(*client.Message) []byte) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := c.Subscribe(ctx, []string{pattern})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range sub.C() {
			// A reply can meet a daemon that is restarting (the
			// requester asks again); anything else is a failure.
			if err := c.Reply(ctx, m, answer(m)); err != nil && ctx.Err() == nil && !errors.Is(err, client.ErrUnavailable) {
				t.Errorf("reply to %s: %v", m.Topic, err)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// waitPeer waits until c's daemon lists a peer that match accepts.
func waitPeer(ctx context.Context, t *testing.T, c *client.Client, what string, match func(client.Peer) bool) {
	t.Helper()
	testnet.Eventually(t, 10*time.Second, what, func() error {
		peers, err := c.Peers(ctx)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(peers, match) {
			return nil
		}
		return fmt.Errorf("peers: %+v", peers)
	})
}

// TestRequestReplyAcrossTwoDaemons: a requester on one daemon and a
// responder on another; the reply comes back through the requester's
// inbox, carrying the request's correlation id; requests from many
// goroutines each get their own reply.
func TestRequestReplyAcrossTwoDaemons(t *testing.T) {
	cl, port := cluster(t)
	a := testnet.Start(t, testnet.Config{Name: "a", Cluster: cl, McastPort: port})
	b := testnet.Start(t, testnet.Config{Name: "b", Cluster: cl, McastPort: port})
	req, resp := dial(t, a.App), dial(t, b.App)
	ctx := ctxT(t, 30*time.Second)
	respond(t, resp, "svc/upper", func(m *client.Message) []byte { return []byte(strings.ToUpper(string(m.Payload))) })
	waitPeer(ctx, t, req, "a routes svc/upper to b", func(p client.Peer) bool { return slices.Contains(p.Topics, "svc/upper") })
	// And b must know a: a reply goes only to a daemon known now
	// (docs/protocol.md §4.6). a's request can reach b before a's first
	// beacon does, when b started after a's beacon at start-up.
	waitPeer(ctx, t, resp, "b knows a", func(p client.Peer) bool { return p.ID == a.InstanceID() })

	m, err := req.Request(ctx, "svc/upper", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Payload) != "HELLO" || m.Source != b.InstanceID() || m.CorrelationID == "" ||
		!strings.HasPrefix(m.Topic, "_inbox/"+a.InstanceID()+"/") {
		t.Fatalf("reply %+v", m)
	}

	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprintf("M%d", i)
			m, err := req.Request(ctx, "svc/upper", []byte(strings.ToLower(want)))
			switch {
			case err != nil:
				errs[i] = err
			case string(m.Payload) != want:
				errs[i] = fmt.Errorf("got %q, want %q", m.Payload, want)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestRequestFailsAtOnceWithoutResponders: nothing subscribes to the
// topic, so the request fails with ErrNoResponders, not at its deadline.
func TestRequestFailsAtOnceWithoutResponders(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App)
	_, err := c.Request(ctxT(t, time.Minute), "nobody/here", []byte("?"))
	if !errors.Is(err, client.ErrNoResponders) || !isKind(err, client.ErrNoResponders) {
		t.Fatalf("request with no responders: %v", err)
	}
	if want := `nexusd: request: no responders for topic "nobody/here"`; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("code %s", status.Code(err))
	}
}

// TestRequestTimesOutWithoutAReply: a subscriber that never answers; the
// request ends with ctx, as a deadline error, and the request it saw
// carried its reply address.
func TestRequestTimesOutWithoutAReply(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App)
	ctx := ctxT(t, 30*time.Second)
	sub, err := c.Subscribe(ctx, []string{"svc/silent"})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = c.Request(rctx, "svc/silent", []byte("?"))
	if !errors.Is(err, context.DeadlineExceeded) || status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("request without a reply: %v", err)
	}
	var e *client.Error
	if !errors.As(err, &e) || e.Op != "request" {
		t.Fatalf("error %#v, want a *client.Error of op request", err)
	}
	m := recv(t, sub, 1, 5*time.Second)[0]
	if !strings.HasPrefix(m.ReplyTo, "_inbox/"+c.ServerID()+"/") || m.CorrelationID == "" {
		t.Fatalf("request as the responder saw it: %+v", m)
	}
	// A late reply is dropped, and the inbox goes on serving.
	if err := c.Reply(ctx, m, []byte("late")); err != nil {
		t.Fatal(err)
	}
	respond(t, c, "svc/echo", func(m *client.Message) []byte { return m.Payload })
	if r, err := c.Request(ctx, "svc/echo", []byte("again")); err != nil || string(r.Payload) != "again" {
		t.Fatalf("request after a timeout: %v, %v", r, err)
	}
}

// TestReplyNeedsARequest: a message without reply_to cannot be answered.
func TestReplyNeedsARequest(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App)
	err := c.Reply(ctxT(t, 10*time.Second), &client.Message{Topic: "plain"}, []byte("x"))
	if !isKind(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "reply_to") {
		t.Fatalf("reply to a plain message: %v", err)
	}
}

// TestRequestAfterADaemonRestart: the inbox names a daemon run; after a
// restart the client makes a new one, and requests are answered again.
func TestRequestAfterADaemonRestart(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App, client.WithBackoff(fast))
	ctx := ctxT(t, 60*time.Second)
	respond(t, c, "svc/echo", func(m *client.Message) []byte { return m.Payload })
	if r, err := c.Request(ctx, "svc/echo", []byte("one")); err != nil || string(r.Payload) != "one" {
		t.Fatalf("first request: %v, %v", r, err)
	}
	first := c.ServerID()
	d.Kill()
	d = restart(t, d)
	testnet.Eventually(t, 20*time.Second, "a reply from the new daemon run", func() error {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		r, err := c.Request(rctx, "svc/echo", []byte("two"))
		if err != nil {
			return err
		}
		if string(r.Payload) != "two" || c.ServerID() == first || !strings.HasPrefix(r.Topic, "_inbox/"+d.InstanceID()+"/") {
			return fmt.Errorf("reply %+v from run %s", r, c.ServerID())
		}
		return nil
	})
}
