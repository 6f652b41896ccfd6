package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testnet"
)

// fast reconnects quickly, so the tests wait little.
var fast = client.Backoff{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond, Multiplier: 2, Jitter: 0.1}

// daemonStatus is what a daemon's status page says of its subscriptions.
type daemonStatus struct {
	Node struct {
		ID            string
		Subscriptions int
		Paused        int
	} `json:"node"`
	Subscriptions []struct {
		ID      string
		Queued  int
		Limit   int
		Policy  string
		Dropped uint64
	} `json:"subscriptions"`
}

func statusOf(d *testnet.Daemon) (daemonStatus, error) {
	var st daemonStatus
	body, err := d.Get("/api/status")
	if err == nil {
		err = json.Unmarshal([]byte(body), &st)
	}
	return st, err
}

func checkKinds(t testing.TB, got []*client.Message, want client.Kind) {
	t.Helper()
	for i, m := range got {
		if m.Kind != want {
			t.Fatalf("message %d (%q) is %s, want %s", i, m.Payload, m.Kind, want)
		}
	}
}

// TestDaemonKilledAndRestartedMidStream: the subscriber's daemon is
// killed mid-stream and a new run starts on the same ports. While the
// subscriber cannot reach it yet, messages are published to the new run;
// once it can, it replays them from the new run's ring, then continues
// live: nothing the daemon holds is lost, and the restart (whose
// numbering starts over) is reported as a gap of unknown size, never
// silently.
func TestDaemonKilledAndRestartedMidStream(t *testing.T) {
	d := daemon(t)
	px := newProxy(t, d.App)
	rec := &recorder{}
	sc := dial(t, px.Addr(), client.WithBackoff(fast), client.WithStateHandler(rec.state), client.WithGapHandler(rec.gap))
	pub := dial(t, d.App, client.WithBackoff(fast))
	ctx := ctxT(t, 60*time.Second)
	sub, err := sc.Subscribe(ctx, []string{"restart/#"})
	if err != nil {
		t.Fatal(err)
	}
	// A subscription to one topic that has had no message yet.
	quietSub, err := sc.Subscribe(ctx, []string{"other/quiet"})
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, pub, "restart/t", payloads("a", 0, 100))
	got := recv(t, sub, 100, 10*time.Second)
	checkPayloads(t, got, payloads("a", 0, 100))
	checkSequences(t, got, 1)
	firstRun := sc.ServerID()

	px.Block(true)
	d.Kill()
	px.Cut(true)
	rec.waitState(t, client.StateDisconnected, 1, 5*time.Second)
	d2 := restart(t, d)
	publishAll(t, pub, "restart/t", payloads("b", 0, 30)) // the subscriber is still cut off
	publishAll(t, pub, "other/quiet", payloads("q", 0, 5))
	px.Block(false)

	got = recv(t, sub, 30, 15*time.Second)
	checkPayloads(t, got, payloads("b", 0, 30))
	checkSequences(t, got, 1)
	checkKinds(t, got, client.Replayed)
	publishAll(t, pub, "restart/t", payloads("b", 30, 60))
	got = recv(t, sub, 30, 10*time.Second)
	checkPayloads(t, got, payloads("b", 30, 60))
	checkSequences(t, got, 31)
	checkKinds(t, got, client.Live)
	quiet(t, sub, 200*time.Millisecond)

	// The topic it names is asked for from the start of the new run.
	got = recv(t, quietSub, 5, 10*time.Second)
	checkPayloads(t, got, payloads("q", 0, 5))
	checkSequences(t, got, 1)
	quiet(t, quietSub, 100*time.Millisecond)

	if sc.ServerID() == firstRun || sc.ServerID() != d2.InstanceID() {
		t.Errorf("ServerID %s after the restart; first run %s, new run %s", sc.ServerID(), firstRun, d2.InstanceID())
	}
	want := client.Gap{Subscription: sub.ID(), Topic: "restart/t", Expected: 101, Missed: -1, Cause: client.GapRestart}
	if gaps := rec.Gaps(); len(gaps) != 1 || gaps[0] != want {
		t.Errorf("gaps %+v, want only %+v", gaps, want)
	}
	rec.waitState(t, client.StateConnected, 2, 5*time.Second)
	for _, s := range []client.State{client.StateDisconnected, client.StateReconnecting} {
		if !slices.Contains(rec.States(), s) {
			t.Errorf("states %v lack %s", rec.States(), s)
		}
	}
	if last := sub.LastSequences(); last["restart/t"] != 60 {
		t.Errorf("last sequences %v, want restart/t at 60", last)
	}
}

// TestNetworkCutLosesNothingTheDaemonHolds: the subscriber's connection is
// cut while messages are published to its daemon. When the daemon
// notices (its side closes too), it drops the subscription, and the client
// opens it again by its topics; when it does not notice (its side stays
// open and silent), the client takes the subscription over by its id.
// Either way the messages published during the cut are replayed, then
// live ones follow: every message once, in order, no gap.
func TestNetworkCutLosesNothingTheDaemonHolds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		daemonToo bool // the daemon sees the stream end
		window    bool // the subscription asks for a resume window (the default)
	}{{"daemon notices", true, true}, {"daemon does not notice", false, true}, {"daemon notices, no resume window", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			d := daemon(t)
			px := newProxy(t, d.App)
			rec := &recorder{}
			sc := dial(t, px.Addr(), client.WithBackoff(fast), client.WithStateHandler(rec.state), client.WithGapHandler(rec.gap))
			pub := dial(t, d.App)
			ctx := ctxT(t, 60*time.Second)
			var opts []client.SubscribeOption
			if !tc.window {
				opts = append(opts, client.ResumeWindow(0))
			}
			sub, err := sc.Subscribe(ctx, []string{"cut/#"}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			id := sub.ID()
			all := payloads("m", 0, 200)
			publishAll(t, pub, "cut/t", all[:50])
			checkPayloads(t, recv(t, sub, 50, 10*time.Second), all[:50])

			px.Block(true)
			px.Cut(tc.daemonToo)
			rec.waitState(t, client.StateDisconnected, 1, 5*time.Second)
			publishAll(t, pub, "cut/t", all[50:150])
			testnet.Eventually(t, 5*time.Second, "the daemon's view of the subscription", func() error {
				st, err := statusOf(d)
				switch {
				case err != nil:
					return err
				case tc.daemonToo && tc.window && (st.Node.Subscriptions != 0 || st.Node.Paused != 1):
					return fmt.Errorf("the daemon holds %d subscriptions and %d paused, want it kept paused for its resume", st.Node.Subscriptions, st.Node.Paused)
				case tc.daemonToo && !tc.window && st.Node.Subscriptions+st.Node.Paused != 0:
					return fmt.Errorf("the daemon still holds %d subscriptions", st.Node.Subscriptions)
				case !tc.daemonToo && st.Node.Subscriptions != 1:
					return fmt.Errorf("the daemon holds %d subscriptions, want the silent one", st.Node.Subscriptions)
				}
				return nil
			})
			px.Block(false)

			got := recv(t, sub, 100, 15*time.Second)
			checkPayloads(t, got, all[50:150])
			checkSequences(t, got, 51)
			checkKinds(t, got, client.Replayed)
			publishAll(t, pub, "cut/t", all[150:])
			got = recv(t, sub, 50, 10*time.Second)
			checkPayloads(t, got, all[150:])
			checkSequences(t, got, 151)
			quiet(t, sub, 200*time.Millisecond)
			if gaps := rec.Gaps(); len(gaps) != 0 {
				t.Errorf("gaps %+v, want none", gaps)
			}
			dropped := tc.daemonToo && !tc.window
			if sameID := sub.ID() == id; sameID == dropped {
				t.Errorf("subscription id %s after the cut, %s before: want a new one only when the daemon dropped it", sub.ID(), id)
			}
			if st, err := statusOf(d); err != nil || st.Node.Subscriptions != 1 {
				t.Errorf("the daemon holds %d subscriptions (%v), want exactly the resumed one", st.Node.Subscriptions, err)
			}
		})
	}
}

// TestPauseAndResume: a paused subscription keeps collecting on the
// daemon; Resume replays what came meanwhile, and never a message whose
// TTL ran out (that one is reported as a gap). When the pause has run
// out, Resume opens the subscription again by its topics and still
// replays what the daemon's ring holds.
func TestPauseAndResume(t *testing.T) {
	d := daemon(t, "--paused-subscription-ttl", "1s")
	rec := &recorder{}
	c := dial(t, d.App)
	ctx := ctxT(t, 60*time.Second)
	sub, err := c.Subscribe(ctx, []string{"p/#"}, client.OnGap(rec.gap))
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, c, "p/t", payloads("a", 0, 10))
	recv(t, sub, 10, 5*time.Second)

	ttl, err := sub.Pause(ctx)
	if err != nil || ttl != time.Second {
		t.Fatalf("pause: %v, %v; want the daemon's 1s", ttl, err)
	}
	if _, err := sub.Pause(ctx); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("pausing twice: %v", err)
	}
	publishAll(t, c, "p/t", payloads("b", 0, 20))
	published := time.Now()
	if _, err := c.Publish(ctx, "p/t", []byte("short-lived"), client.TTL(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	testnet.Eventually(t, time.Second, "the short-lived message expires", func() error {
		if time.Since(published) < 150*time.Millisecond {
			return errors.New("not yet")
		}
		return nil
	})
	if err := sub.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	got := recv(t, sub, 20, 5*time.Second)
	checkPayloads(t, got, payloads("b", 0, 20))
	checkSequences(t, got, 11)
	checkKinds(t, got, client.Replayed)
	publishAll(t, c, "p/t", []string{"live"})
	m := recv(t, sub, 1, 5*time.Second)[0]
	if string(m.Payload) != "live" || m.Sequence != 32 || m.Kind != client.Live {
		t.Fatalf("after the replay: %+v, want live sequence 32 (31 expired)", m)
	}
	testnet.Eventually(t, 2*time.Second, "the expired message reported", func() error {
		gaps := rec.Gaps()
		// Reported once, with its topic and number.
		if len(gaps) == 1 && gaps[0] == (client.Gap{Subscription: sub.ID(), Topic: "p/t", Expected: 31, Missed: 1, Cause: client.GapResume}) {
			return nil
		}
		return fmt.Errorf("gaps %+v", gaps)
	})

	// Pause until the daemon forgets the subscription.
	id := sub.ID()
	if _, err := sub.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	publishAll(t, c, "p/t", payloads("c", 0, 5))
	testnet.Eventually(t, 5*time.Second, "the pause runs out", func() error {
		st, err := statusOf(d)
		if err == nil && (st.Node.Paused != 0 || st.Node.Subscriptions != 0) {
			err = fmt.Errorf("%d paused, %d active", st.Node.Paused, st.Node.Subscriptions)
		}
		return err
	})
	if err := sub.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	got = recv(t, sub, 5, 5*time.Second)
	checkPayloads(t, got, payloads("c", 0, 5))
	checkSequences(t, got, 33)
	if sub.ID() == id {
		t.Errorf("subscription id unchanged after the daemon forgot it")
	}
	if err := sub.Resume(ctx); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("resume of an active subscription: %v", err)
	}
	if gaps := rec.Gaps(); len(gaps) != 1 {
		t.Errorf("gaps %+v, want only the one above", gaps)
	}
}

// TestReconnectionGivesUpAfterMaxRetries: with MaxRetries, a daemon that
// stays away moves the client to StateFailed after that many attempts;
// its subscriptions end, and calls fail, with ErrUnavailable.
func TestReconnectionGivesUpAfterMaxRetries(t *testing.T) {
	d := daemon(t)
	rec := &recorder{}
	b := fast
	b.MaxRetries = 3
	c := dial(t, d.App, client.WithBackoff(b), client.WithStateHandler(rec.state))
	ctx := ctxT(t, 30*time.Second)
	sub, err := c.Subscribe(ctx, []string{"gone/#"})
	if err != nil {
		t.Fatal(err)
	}
	d.Stop()
	rec.waitState(t, client.StateFailed, 1, 10*time.Second)
	select {
	case <-sub.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the subscription did not end after the client gave up")
	}
	if !errors.Is(sub.Err(), client.ErrUnavailable) {
		t.Fatalf("subscription ended with %v, want ErrUnavailable", sub.Err())
	}
	if _, err := c.Publish(ctx, "gone/x", nil); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("publish after giving up: %v", err)
	}
	reconnecting := 0
	for _, s := range rec.States() {
		if s == client.StateReconnecting {
			reconnecting++
		}
	}
	if c.State() != client.StateFailed || reconnecting != 3 {
		t.Fatalf("state %s after states %v, want failed after 3 attempts", c.State(), rec.States())
	}
	c.Close()
	rec.waitState(t, client.StateClosed, 1, 5*time.Second)
}

// A subscription whose context ends is over: the client says so, and the
// daemon drops it at once instead of keeping it for its resume window as
// it would a broken connection's.
func TestEndedSubscriptionIsNotKeptForAResume(t *testing.T) {
	d := daemon(t)
	c := dial(t, d.App)
	ctx, cancel := context.WithCancel(ctxT(t, 30*time.Second))
	sub, err := c.Subscribe(ctx, []string{"over/#"})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-sub.Done()
	testnet.Eventually(t, 5*time.Second, "the daemon to drop the subscription", func() error {
		st, err := statusOf(d)
		if err == nil && st.Node.Subscriptions+st.Node.Paused != 0 {
			err = fmt.Errorf("the daemon holds %d subscriptions and %d paused", st.Node.Subscriptions, st.Node.Paused)
		}
		return err
	})
}

// Closing the client ends its subscriptions on the daemon too: it is not
// left holding them for their resume window, as after a broken connection.
func TestClosedClientLeavesNoSubscriptionBehind(t *testing.T) {
	d := daemon(t)
	c, err := client.Dial(ctxT(t, 10*time.Second), d.App)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/#", "b/#"} {
		if _, err := c.Subscribe(ctxT(t, 30*time.Second), []string{p}); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	testnet.Eventually(t, 5*time.Second, "the daemon to drop the subscriptions", func() error {
		st, err := statusOf(d)
		if err == nil && st.Node.Subscriptions+st.Node.Paused != 0 {
			err = fmt.Errorf("the daemon holds %d subscriptions and %d paused", st.Node.Subscriptions, st.Node.Paused)
		}
		return err
	})
}
