package e2e

import (
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestPauseResumeAcrossBurstHasNoGapNoDuplicate: a subscription paused
// while another node publishes a burst, then resumed with replay while
// publishing goes on, receives every message exactly once, in order, with
// sequence numbers that never skip.
func TestPauseResumeAcrossBurstHasNoGapNoDuplicate(t *testing.T) {
	testnet.Require(t)
	cluster, port := newCluster(t)
	a := start(t, testnet.Config{Name: "a", Cluster: cluster, McastPort: port}, "")
	b := start(t, testnet.Config{Name: "b", Cluster: cluster, McastPort: port}, "")
	waitMesh(t, 5*time.Second, a, b)

	const topic = "burst/t"
	s := b.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{topic}, ClientId: "pauser"})
	subID := s.info().GetSubscriptionId()
	a.waitRoute(b, topic)
	all := payloads("p", 0, 800)
	for _, p := range all[:100] {
		a.mustPublish(topic, p)
	}
	checkOrder(t, s.messages(100, 10*time.Second), all[:100], 1)

	ctx, cancel := b.ctx(5 * time.Second)
	defer cancel()
	resp, err := b.c.Unsubscribe(ctx, &sidecarpb.UnsubscribeRequest{SubscriptionId: subID, Pause: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPauseTtlMs() <= 0 || !resp.GetSuccess() || resp.GetErrorMessage() != "" {
		t.Fatalf("pause answered %v", resp)
	}
	if err := s.end(5 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("paused stream ended with %v, want a clean end", err)
	}

	// A burst while paused; b's node keeps its topic, so the burst lands
	// in b's replay ring.
	for _, p := range all[100:600] {
		a.mustPublish(topic, p)
	}
	// Resume while publishing goes on: replay and live must meet exactly.
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, p := range all[600:] {
			if _, err := a.publish(topic, p, false); err != nil {
				t.Errorf("publish during resume: %v", err)
				return
			}
		}
	})
	r := b.resume(&sidecarpb.ResumeSubscribeRequest{
		SubscriptionId:       subID,
		Topics:               []string{topic},
		LastSequencePerTopic: map[string]int64{topic: 100},
		GapRecoveryMode:      sidecarpb.GapRecoveryMode_GAP_RECOVERY_REPLAY_BUFFER,
	})
	info := r.info()
	if info.GetSubscriptionId() != subID || info.GetGapDetected() {
		t.Fatalf("resume info %v: want the same subscription and no gap", info)
	}
	var got []*sidecarpb.Message
	replayDone := false
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 700 {
		ev := r.next(time.Until(deadline))
		switch {
		case ev.GetReplayMessage() != nil:
			if replayDone {
				t.Fatalf("replay message after replay_complete")
			}
			got = append(got, ev.GetReplayMessage())
		case ev.GetReplayComplete() != nil:
			replayDone = true
			if ev.GetReplayComplete().GetTopic() != topic {
				t.Fatalf("replay_complete for %q", ev.GetReplayComplete().GetTopic())
			}
		case ev.GetMessage() != nil:
			got = append(got, ev.GetMessage())
		case ev.GetHeartbeat() != nil:
		default:
			t.Fatalf("unexpected event %v", ev)
		}
	}
	wg.Wait()
	if info.GetReplayStarted() != replayDone {
		t.Errorf("replay_started %v but replay_complete seen %v", info.GetReplayStarted(), replayDone)
	}
	checkOrder(t, got, all[100:], 101)
	r.quiet(300 * time.Millisecond)
}
