package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testnet"
)

// TestPausedDaemonLosesNothingSilently: a subscriber's daemon frozen
// (SIGSTOP) in the middle of a flood, for longer than the peer timeout so
// the publishing daemon declares it dead, loses what it must, but nothing
// silently. Judged from the subscriber's side only, through the client
// library: its messages come in order without duplicates, every sequence
// number it skipped is inside a gap reported to it, and what it received
// plus what was reported missing is exactly what was published.
//
// Frozen for 8 s, the subscriber's client keeps its connection; frozen for
// 20 s, its keepalive gives up (after 15 s), it reconnects and resumes the
// subscription by id, which the daemon kept paused for its resume window
// when it saw the stream end.
func TestPausedDaemonLosesNothingSilently(t *testing.T) {
	testnet.Require(t)
	t.Run("8s", func(t *testing.T) { pausedDaemon(t, 15*time.Second, 8*time.Second) })
	t.Run("20s", func(t *testing.T) { pausedDaemon(t, 30*time.Second, 20*time.Second) })
}

// pausedDaemon floods for floodFor and freezes the subscriber's daemon for
// frozen once a fifth of the flood is out; the peer timeout is 5 s.
func pausedDaemon(t *testing.T, floodFor, frozen time.Duration) {
	const (
		flood = 50000 // messages published on a
		topic = "f/x"
	)
	cluster, port := newCluster(t)
	nodes := launchMesh(t, testnet.Config{Name: "a", Cluster: cluster, McastPort: port}, testnet.Config{Name: "b", Cluster: cluster, McastPort: port})
	a, b := nodes[0], nodes[1]

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var clientLog testnet.SyncBuffer
	rec := &recorder{}
	subc, err := client.Dial(ctx, b.App, client.WithGapHandler(rec.gap), client.WithBackpressureHandler(rec.warn),
		client.WithStateHandler(rec.state),
		client.WithLogger(slog.New(slog.NewTextHandler(&clientLog, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		client.WithPacked(!testnet.V1Wire()))
	if err != nil {
		t.Fatal(err)
	}
	defer subc.Close()
	s, err := subc.Subscribe(ctx, []string{"f/#"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for m := range s.C() {
			rec.take(m)
		}
	}()
	pubc, err := client.Dial(ctx, a.App, wireOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer pubc.Close()
	// a knows the subscription once a publish there reaches it (on another
	// topic, so the flood's topic holds the flood alone).
	testnet.Eventually(t, 10*time.Second, "a routes f/# to b", func() error {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		defer pcancel()
		r, err := pubc.Publish(pctx, "f/probe", []byte("probe"))
		if err != nil || r.SubscriberCount < 1 {
			return fmt.Errorf("probe reached %d subscribers (%v)", r.SubscriberCount, err)
		}
		return nil
	})

	// The flood, in a goroutine; b is frozen once a fifth of it is out.
	p, err := pubc.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fifth := make(chan struct{})
	var floodErr error
	var queued int
	began := time.Now()
	var flooding sync.WaitGroup
	flooding.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for queued < flood {
			due := min(flood, int(float64(flood)*float64(time.Since(began))/float64(floodFor))+1)
			for ; queued < due; queued++ {
				if _, floodErr = p.Publish(ctx, topic, []byte(strconv.Itoa(queued))); floodErr != nil {
					return
				}
				if queued == flood/5 {
					close(fifth)
				}
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				floodErr = ctx.Err()
				return
			}
		}
	})
	select {
	case <-fifth:
	case <-time.After(floodFor):
		cancel()
		flooding.Wait()
		t.Fatalf("a fifth of the flood not queued within %s (%d queued, %v)", floodFor, queued, floodErr)
	}
	b.Freeze()
	frozeAt := time.Since(began)
	<-time.After(frozen) // the fault itself lasts this long; nothing is awaited
	b.Thaw()
	flooding.Wait()
	if floodErr != nil {
		t.Fatalf("flood stopped after %d messages: %v", queued, floodErr)
	}
	// Delivery is at most once: a failure (ErrUnavailable) may or may not
	// have been published, which would make exact accounting impossible.
	published := flood
	var pubErrs *client.PublishErrors
	switch err := p.Close(ctx); {
	case errors.As(err, &pubErrs):
		published -= len(pubErrs.Failures)
		t.Errorf("%d of %d flood publishes failed (first: %v): the accounting below counts them as not published",
			len(pubErrs.Failures), flood, pubErrs.Failures[0].Err)
	case err != nil:
		t.Fatalf("closing the publisher: %v", err)
	}
	floodTook := time.Since(began)
	r, err := pubc.Publish(ctx, topic, []byte("marker"))
	if err != nil {
		t.Fatalf("final marker: %v", err)
	}
	published++
	t.Logf("flood: %d published in %s (b frozen %s..%s); then the marker, which reached %d subscribers", published-1,
		floodTook.Round(time.Millisecond), frozeAt.Round(time.Millisecond), (frozeAt + frozen).Round(time.Millisecond), r.SubscriberCount)

	// Settled: the marker arrived, then every published message is either
	// received or reported missing (the gap handler runs on the client's
	// goroutine, a little after the messages it concerns).
	settleErr := testnet.Within(30*time.Second, func() error {
		if got, missing, marker := rec.tally(topic); !marker {
			return fmt.Errorf("marker not received (%d received, %d reported missing, of %d)", got, missing, published)
		}
		return nil
	})
	if settleErr == nil {
		settleErr = testnet.Within(5*time.Second, func() error {
			if got, missing, _ := rec.tally(topic); got+missing != published {
				return fmt.Errorf("%d received + %d reported missing, of %d published", got, missing, published)
			}
			return nil
		})
	}
	if settleErr != nil {
		t.Errorf("not settled: %v", settleErr)
	}

	rec.check(t, topic, published)
	if v := a.Metric(`nexusd_peers_removed_total{reason="dead"}`); v < 1 {
		t.Errorf("a never declared b dead while it was frozen for %s: the test did not test what it says", frozen)
	}
	logMetrics(t, a, `nexusd_peers_removed_total{reason="dead"}`, `nexusd_messages_dropped_total{reason="peer_backlog"}`,
		"nexusd_push_failures_total", "nexusd_push_stream_failures_total", `nexusd_messages_dropped_total{reason="push_refused"}`)
	logMetrics(t, b, "nexusd_messages_received_total", "nexusd_messages_repaired_total", "nexusd_mesh_gaps_total",
		"nexusd_mesh_gap_messages_total", `nexusd_messages_dropped_total{reason="subscriber_queue"}`,
		`nexusd_messages_dropped_total{reason="late"}`, `nexusd_messages_dropped_total{reason="duplicate"}`,
		"nexusd_messages_replayed_total", `nexusd_rejected_total{reason="sequence_unverified"}`)
	if t.Failed() {
		t.Logf("--- subscriber's client log ---\n%s", clientLog.String())
		for _, n := range []*node{a, b} {
			st, err := n.Get("/api/status")
			t.Logf("--- %s's /api/status (%v) ---\n%s", n.name, err, st)
		}
	}
}

// recorder is what a subscriber saw: messages, gaps, backpressure
// warnings and connection states, in the order they came.
type recorder struct {
	mu     sync.Mutex
	msgs   []*client.Message
	gaps   []client.Gap
	warns  []client.BackpressureWarning
	states []client.StateChange
}

func (r *recorder) take(m *client.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}

func (r *recorder) gap(g client.Gap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaps = append(r.gaps, g)
}

func (r *recorder) warn(w client.BackpressureWarning) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warns = append(r.warns, w)
}

func (r *recorder) state(c client.StateChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, c)
}

// reported is whether a gap concerns topic: named for it, or for no topic
// (a resume's missed messages on topics the client had not seen yet).
func reported(g client.Gap, topic string) bool { return g.Topic == topic || g.Topic == "" }

// tally counts topic's messages received (retained values aside), the
// messages reported missing on it, and whether the marker came.
func (r *recorder) tally(topic string) (got, missing int, marker bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m.Topic == topic && m.Kind != client.Retained {
			got++
			marker = marker || string(m.Payload) == "marker"
		}
	}
	for _, g := range r.gaps {
		if reported(g, topic) && g.Missed > 0 {
			missing += int(g.Missed)
		}
	}
	return got, missing, marker
}

// check requires of topic's messages: sequence numbers that only rise
// (no duplicate, no reordering), payloads (the flood's counter) that only
// rise, every skipped number inside a reported gap of its size, and
// received plus reported missing equal to published. It logs the figures.
func (r *recorder) check(t *testing.T, topic string, published int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var got []*client.Message
	kinds := map[client.Kind]int{}
	for _, m := range r.msgs {
		if m.Topic == topic && m.Kind != client.Retained {
			got = append(got, m)
			kinds[m.Kind]++
		}
	}
	if len(got) == 0 {
		t.Fatalf("no message on %s received", topic)
	}
	ids := map[string]bool{}
	lastPayload := -1
	var holes [][2]int64 // sequence numbers skipped, inclusive ranges
	for i, m := range got {
		if ids[m.ID] {
			t.Errorf("message %s (sequence %d) delivered twice", m.ID, m.Sequence)
		}
		ids[m.ID] = true
		if i > 0 {
			prev := got[i-1].Sequence
			switch {
			case m.Sequence <= prev:
				t.Errorf("message %d: sequence %d after %d (duplicate or out of order)", i, m.Sequence, prev)
			case m.Sequence > prev+1:
				holes = append(holes, [2]int64{prev + 1, m.Sequence - 1})
			}
		}
		if string(m.Payload) == "marker" {
			if i != len(got)-1 {
				t.Errorf("marker is message %d of %d: something came after it", i, len(got))
			}
			continue
		}
		n, err := strconv.Atoi(string(m.Payload))
		if err != nil || n <= lastPayload {
			t.Errorf("message %d (sequence %d): payload %q after %d (duplicate, out of order or foreign)", i, m.Sequence, m.Payload, lastPayload)
		}
		lastPayload = n
	}
	first, last := got[0].Sequence, got[len(got)-1].Sequence

	var gaps []client.Gap
	missing, unknown, topicless := int64(0), 0, int64(0)
	causes := map[client.GapCause]int64{}
	for _, g := range r.gaps {
		if !reported(g, topic) {
			t.Errorf("gap on another topic: %v", g)
			continue
		}
		gaps = append(gaps, g)
		if g.Missed < 0 {
			unknown++
			continue
		}
		missing += g.Missed
		causes[g.Cause] += g.Missed
		if g.Topic == "" {
			topicless += g.Missed
		}
	}
	// Each hole must be a reported gap of exactly its numbers: a gap whose
	// range (Expected, and Received or Missed) is the hole's.
	covered := map[[2]int64]int{}
	for _, g := range gaps {
		if g.Topic == topic && g.Missed > 0 && g.Expected > 0 {
			covered[[2]int64{g.Expected, g.Expected + g.Missed - 1}]++
		}
	}
	var silent []string
	var inHoles int64
	for _, h := range holes {
		inHoles += h[1] - h[0] + 1
		if covered[h] > 0 {
			covered[h]--
			continue
		}
		silent = append(silent, fmt.Sprintf("%d..%d", h[0], h[1]))
	}
	var spare []string
	for rng, n := range covered {
		for range n {
			spare = append(spare, fmt.Sprintf("%d..%d", rng[0], rng[1]))
		}
	}

	var dropped, expired, lost uint64
	for _, w := range r.warns {
		dropped += w.Dropped
		expired += w.Expired
		lost += w.Lost
	}
	var states []string
	for _, c := range r.states {
		states = append(states, c.To.String())
	}
	t.Logf("subscriber: %d of %d received (%v), sequences %d..%d, %d holes holding %d numbers; "+
		"%d gaps reported, %d messages missing by cause %v (%d without a topic), %d of unknown size",
		len(got), published, kinds, first, last, len(holes), inHoles, len(gaps), missing, causes, topicless, unknown)
	t.Logf("subscriber: %d backpressure warnings: dropped %d, expired %d, lost in the mesh %d; connection states %v",
		len(r.warns), dropped, expired, lost, strings.Join(states, " "))
	for i, g := range gaps {
		if i == 20 {
			t.Logf("... and %d more gaps", len(gaps)-20)
			break
		}
		t.Logf("  %v", g)
	}

	if unknown > 0 {
		t.Errorf("%d gaps of unknown size: the loss cannot be accounted for", unknown)
	}
	if len(silent) > 0 {
		t.Errorf("sequence numbers skipped with no gap reported for exactly them: %s", strings.Join(silent, ", "))
	}
	if len(spare) > 0 {
		t.Errorf("gaps reported for numbers that were not skipped between messages received: %s", strings.Join(spare, ", "))
	}
	if want := last - first + 1 - int64(len(got)); missing != want {
		t.Errorf("reported missing %d, but %d..%d less %d received leaves %d", missing, first, last, len(got), want)
	}
	if int64(len(got))+missing != int64(published) {
		t.Errorf("received %d + reported missing %d = %d, but %d were published: %d lost silently",
			len(got), missing, int64(len(got))+missing, published, int64(published)-int64(len(got))-missing)
	}
}

// logMetrics logs some of n's metrics, by series.
func logMetrics(t *testing.T, n *node, series ...string) {
	t.Helper()
	m, err := n.Metrics()
	if err != nil {
		t.Logf("%s metrics: %v", n.name, err)
		return
	}
	var b strings.Builder
	for _, s := range series {
		fmt.Fprintf(&b, " %s=%v", s, m[s])
	}
	t.Logf("%s metrics:%s", n.name, b.String())
}
