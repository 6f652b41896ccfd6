package netshell

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nexusd/nexusd/state"
)

// TestMetricsCarryTheSpecsNames scrapes the exposition and looks for every
// metric the daemon exports, with the values of a snapshot.
func TestMetricsCarryTheSpecsNames(t *testing.T) {
	m := newMetrics()
	snap := snapshot{status: state.Status{PeersAlive: 2, PeersSuspected: 1, QueuedMsgs: 7, Retained: 3, RetainedBytes: 300,
		Counters: state.Counters{Published: 11, Forwarded: 5, Dropped: 4, Expired: 2, Replayed: 9, BeaconsSent: 6, BeaconsReceived: 8,
			BeaconsIgnored: 6, FetchesOK: 3, FetchesFailed: 1, Rejected: map[string]uint64{"beacon_foreign_cluster": 2, "topic_invalid": 1},
			Shed: map[string]uint64{"queue": 5}, ShedBytes: map[string]uint64{"queue": 5000}, Passed: map[string]uint64{"unwanted": 3, "lost_not_held": 2},
			PushesDeferred: 4},
		Memory: state.MemoryStatus{Ring: 100, Queues: 200, Budget: 1000}},
		loop: loopStats{DeliveredLocalOrigin: 12, DeliveredRemoteOrigin: 13}}
	m.shell.beaconDrop(dropTooLarge)
	m.shell.pushRetried.Add(2)
	m.shell.pushFrames[wirePacked].Add(3)
	m.shell.beaconDrop(dropUndecodable)
	m.shell.beaconDrop(dropUndecodable)
	m.shell.beaconDrop(dropBadTag)
	m.reg.MustRegister(newCoreCollector("node-1", "prod", func() (snapshot, bool) { return snap, true }, &m.shell))
	m.syncSeconds.Observe(0.01)
	m.deliverLatency.observeN(2, 1)
	m.sidecarRefused.WithLabelValues("Publish", "invalid_argument").Inc()

	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`nexusd_messages_published_total 11`,
		`nexusd_messages_delivered_total{origin="local"} 12`,
		`nexusd_messages_delivered_total{origin="remote"} 13`,
		`nexusd_messages_forwarded_total 5`,
		`nexusd_messages_dropped_total{reason="subscriber_queue"} 4`,
		`nexusd_messages_expired_total 2`,
		`nexusd_messages_replayed_total 9`,
		`nexusd_subscriber_queue_depth 7`,
		`nexusd_peers{status="alive"} 2`,
		`nexusd_peers{status="suspected"} 1`,
		`nexusd_beacons_sent_total 6`,
		`nexusd_beacons_received_total 8`,
		`nexusd_beacons_dropped_total{reason="too_large"} 1`,
		`nexusd_beacons_dropped_total{reason="undecodable"} 2`,
		`nexusd_beacons_dropped_total{reason="foreign_cluster"} 2`,
		`nexusd_beacons_dropped_total{reason="own"} 6`,
		`nexusd_beacons_dropped_total{reason="bad_tag"} 1`,
		`nexusd_rejected_total{reason="beacon_bad_tag"} 1`,
		`nexusd_syncs_total{result="ok"} 3`,
		`nexusd_syncs_total{result="failed"} 1`,
		`nexusd_sync_duration_seconds_bucket`,
		`nexusd_retained_messages 3`,
		`nexusd_retained_bytes 300`,
		`nexusd_publish_to_deliver_seconds_bucket`,
		`nexusd_rejected_total{reason="topic_invalid"} 1`,
		`nexusd_rejected_total{reason="beacon_too_large"} 1`,
		`nexusd_sidecar_refused_total{reason="invalid_argument",rpc="Publish"} 1`,
		`nexusd_info{cluster="prod",node_id="node-1"} 1`,
		`nexusd_memory_bytes{store="ring"} 100`,
		`nexusd_memory_bytes{store="queue"} 200`,
		`nexusd_memory_budget_bytes 1000`,
		`nexusd_shed_messages_total{store="queue"} 5`,
		`nexusd_shed_bytes_total{store="queue"} 5000`,
		`nexusd_shed_messages_total{store="ring"} 0`, // every store from 0
		`nexusd_shed_bytes_total{store="dedup"} 0`,
		`nexusd_sequence_numbers_passed_total{why="unwanted"} 3`,
		`nexusd_sequence_numbers_passed_total{why="lost_not_held"} 2`,
		`nexusd_pushes_deferred_total{side="sent"} 2`,
		`nexusd_pushes_deferred_total{side="received"} 4`,
		`nexusd_mesh_push_frames_total{wire="packed"} 3`,
		`nexusd_mesh_push_frames_total{wire="batch"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}
