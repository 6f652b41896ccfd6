package e2e

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestUnreadSubscriberCannotGrowTheDaemonWithoutBound: a subscriber that
// opens its stream and never reads it cannot make the daemon hold
// everything published to it. With default flags, 1,500 payloads of
// 1 MiB published to its topic leave the daemon's resident memory under
// 400 MiB throughout (docs/protocol.md §7.2: every queue is capped in bytes as
// well as in messages). The daemon is built without the race detector,
// which would multiply what it measures several times over.
func TestUnreadSubscriberCannotGrowTheDaemonWithoutBound(t *testing.T) {
	testnet.Require(t)
	const (
		messages = 1500
		payload  = 1 << 20   // the largest allowed by default
		maxRSS   = 400 << 20 // what the daemon may hold at its peak
		// Publishing stops once the daemon passes this: the bound is long
		// broken by then, and going on would only risk the machine.
		giveUpRSS = 1 << 30
		// And after this long, whatever the memory: the test stays short.
		giveUpAfter = 45 * time.Second
	)
	cluster, port := newCluster(t)
	d := start(t, testnet.Config{Name: "d", Cluster: cluster, McastPort: port, NoRace: true}, "")

	// The subscriber reads its stream's first event, then nothing more,
	// and keeps the stream open.
	ctx, cancel := d.ctx(2 * time.Minute)
	defer cancel()
	st, err := d.c.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"big/#"}})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := st.Recv(); err != nil || ev.GetSubscriptionInfo() == nil {
		t.Fatalf("first event %v (%v), want subscription_info", ev, err)
	}

	idle, err := d.RSS()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	peak, peakAt, published := idle, 0, 0
	sample := func() int64 {
		rss, err := d.RSS()
		if err != nil {
			t.Errorf("reading the daemon's RSS: %v", err)
			return 0
		}
		mu.Lock()
		defer mu.Unlock()
		if rss > peak {
			peak, peakAt = rss, published
		}
		return rss
	}
	stop := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				sample()
			case <-stop:
				return
			}
		}
	})

	began := time.Now()
	body := bytes.Repeat([]byte{'x'}, payload)
	var dropped int32
	for i := range messages {
		pctx, pcancel := d.ctx(10 * time.Second)
		r, err := d.c.Publish(pctx, &sidecarpb.PublishRequest{Topic: "big/x", Payload: body})
		pcancel()
		if err != nil || !r.GetSuccess() || r.GetSubscriberCount() != 1 {
			close(stop)
			sampling.Wait()
			t.Fatalf("publish %d: %v (%v), want success reaching the one subscriber", i, r, err)
		}
		dropped += r.GetSubscribersDropped()
		mu.Lock()
		published = i + 1
		mu.Unlock()
		if sample() > giveUpRSS {
			t.Errorf("daemon RSS passed %d MiB after %d of %d publishes: stopping", giveUpRSS>>20, i+1, messages)
			break
		}
		if time.Since(began) > giveUpAfter {
			t.Errorf("only %d of %d publishes within %s: stopping", i+1, messages, giveUpAfter)
			break
		}
	}
	took := time.Since(began)
	// And after: the sampler goes on for a second once publishing stops.
	<-time.After(time.Second)
	close(stop)
	sampling.Wait()
	final := sample()
	logMetrics(t, d, "nexusd_subscriber_queue_depth", "nexusd_subscriber_queue_bytes", "nexusd_buffered_bytes",
		"process_resident_memory_bytes", "go_memstats_heap_inuse_bytes")

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d MiB published in %s; daemon RSS idle %d MiB, peak %d MiB (after %d publishes), %d MiB a second later; "+
		"publishes that dropped a queued message: %d", published, took.Round(time.Millisecond), idle>>20, peak>>20, peakAt, final>>20, dropped)
	if peak >= maxRSS {
		t.Errorf("daemon RSS peaked at %d MiB with one subscriber not reading: want under %d MiB", peak>>20, maxRSS>>20)
	}
}
