package netshell

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nexusd/nexusd/state"
)

// shellCounters are counts kept outside the loop, by the goroutines doing
// I/O. They are atomics, read when metrics are collected.
type shellCounters struct {
	datagramsIn      atomic.Uint64 // discovery datagrams read
	beaconsOut       atomic.Uint64 // beacon datagrams written (multicast and each seed)
	beaconSendErrors atomic.Uint64
	beaconDrops      [len(beaconDropReasons)]atomic.Uint64 // by beaconDropReasons
	pushRefused      atomic.Uint64                         // envelopes a peer acknowledged but refused for good
	pushRetried      atomic.Uint64                         // envelopes a peer asked for again later
	pushStreams      atomic.Uint64                         // push streams opened to peers
	pushStreamErrs   atomic.Uint64                         // push streams that failed
	pushFrames       [len(pushWires)]atomic.Uint64         // push frames sent to peers, by wire
	subFrames        atomic.Uint64                         // packed frames of live messages sent to subscribers
	subFrameRecords  atomic.Uint64                         // the records in them
	subRunRecords    atomic.Uint64                         // of those, the ones copied as they came (frame_runs.go)
	publishWaits     atomic.Uint64                         // publish frames held while a link to a peer was backed up
}

func (c *shellCounters) beaconDrop(reason string) {
	c.beaconDrops[dropIndex(reason)].Add(1)
}

// beaconDropped is how many datagrams were dropped for reason.
func (c *shellCounters) beaconDropped(reason string) uint64 {
	return c.beaconDrops[dropIndex(reason)].Load()
}

// snapshot is what the loop reports for one collection.
type snapshot struct {
	status state.Status
	loop   loopStats
	queue  int // inputs waiting for the loop
}

// metrics are the daemon's Prometheus metrics, all named
// nexusd_*. The node's counters reach them through a snapshot the loop
// takes when Prometheus scrapes; nothing reads the node from elsewhere.
type metrics struct {
	reg            *prometheus.Registry
	shell          shellCounters
	syncSeconds    prometheus.Histogram
	deliverLatency *msHistogram
	sidecarRefused *prometheus.CounterVec
	meshRefused    *prometheus.CounterVec // by reason: handshake, unauthenticated
	meshSecurity   *prometheus.GaugeVec   // 1 for this daemon's mode
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "nexusd_sync_duration_seconds",
			Help:    "Time from asking a peer for its state (GetNodeState) to the answer or failure.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		deliverLatency: newMsHistogram("nexusd_publish_to_deliver_seconds",
			"Time from a message's publish (its timestamp_ms, on the publishing daemon's wall clock) to its hand-over to a local subscriber's stream. Millisecond resolution; across hosts it includes clock skew.",
			[]float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}),
		sidecarRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexusd_sidecar_refused_total",
			Help: "Sidecar requests refused, by RPC and reason (the gRPC code, in snake case).",
		}, []string{"rpc", "reason"}),
		meshRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nexusd_mesh_refused_total",
			Help: "Callers the mesh port refused (with --cluster-key or --tls-*): handshake (a TLS handshake failed: plaintext, or a certificate from no trusted CA) and unauthenticated (a call other than a health check without a certificate).",
		}, []string{"reason"}),
		meshSecurity: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nexusd_mesh_security",
			Help: "1, labelled with how this daemon tells members from strangers: cluster-key, cluster-key+tls-files, tls-files, or unauthenticated (no key or TLS files: anyone who reaches the ports is a member).",
		}, []string{"mode"}),
	}
	for _, r := range []string{"handshake", "unauthenticated"} {
		m.meshRefused.WithLabelValues(r) // reported as 0 until it happens
	}
	m.reg.MustRegister(m.syncSeconds, m.deliverLatency, m.sidecarRefused, m.meshRefused, m.meshSecurity,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// labeled is one value of a metric, with its label values.
type labeled struct {
	v      float64
	labels []string
}

func one(v uint64) []labeled { return []labeled{{v: float64(v)}} }

// byKeys labels each value of m with its key, in key order.
// byStores is byKeys for a map by memory store (state's memory classes),
// every store reported from 0, as nexusd_memory_bytes reports them, so an
// alert on a rise sees the series before the first shed.
func byStores(m map[string]uint64) []labeled {
	all := map[string]uint64{}
	for _, st := range memoryStores {
		all[st] = 0
	}
	maps.Copy(all, m)
	return byKeys(all)
}

// memoryStores are the store label's values (nexusd_memory_bytes).
var memoryStores = []string{"ring", "queue", "backlog", "departed", "held", "retained", "dedup"}

func byKeys(m map[string]uint64) []labeled {
	out := make([]labeled, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, labeled{v: float64(m[k]), labels: []string{k}})
	}
	return out
}

// metricDef is one metric drawn from a snapshot and the shell counters.
type metricDef struct {
	name, help string
	gauge      bool
	label      string // the one label, if any
	values     func(s *snapshot, c *shellCounters) []labeled
	desc       *prometheus.Desc
}

func by(pairs ...any) []labeled {
	out := make([]labeled, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		var v float64
		switch n := pairs[i+1].(type) {
		case uint64:
			v = float64(n)
		case int:
			v = float64(n)
		}
		out = append(out, labeled{v: v, labels: []string{pairs[i].(string)}})
	}
	return out
}

func coreMetricDefs() []*metricDef {
	ct := func(s *snapshot) *state.Counters { return &s.status.Counters }
	return []*metricDef{
		{name: "messages_published_total", help: "Local publishes accepted.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).Published) }},
		{name: "messages_delivered_total", label: "origin", help: "Live messages handed to local subscription streams, by where they were published (local: this daemon, remote: a peer).",
			values: func(s *snapshot, _ *shellCounters) []labeled {
				return by("local", s.loop.DeliveredLocalOrigin, "remote", s.loop.DeliveredRemoteOrigin)
			}},
		{name: "messages_received_total", help: "Messages accepted from peers for local subscribers.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).ReceivedRemote) }},
		{name: "messages_forwarded_total", help: "Pushes of messages to peers (retries included).",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).Forwarded) }},
		{name: "messages_dropped_total", label: "reason", help: "Messages dropped: subscriber_queue (a full subscription queue), peer_backlog (a full queue towards a peer), duplicate and late (from peers), push_refused (a peer refused our envelope).",
			values: func(s *snapshot, c *shellCounters) []labeled {
				k := ct(s)
				return by("subscriber_queue", k.Dropped, "peer_backlog", k.BacklogDropped, "duplicate", k.Duplicates,
					"late", k.Late, "push_refused", c.pushRefused.Load())
			}},
		{name: "messages_expired_total", help: "Messages whose TTL ran out before hand-over.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).Expired) }},
		{name: "messages_replayed_total", help: "Messages replayed to resumed subscriptions.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).Replayed) }},
		{name: "messages_repaired_total", help: "Mesh losses recovered by a resend from the source.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).Repaired) }},
		{name: "mesh_gaps_total", help: "Holes in a source's numbering declared lost (reported to subscribers as gaps).",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).Gaps) }},
		{name: "mesh_gap_messages_total", help: "Messages in declared gaps.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).GapMessages) }},
		{name: "push_failures_total", help: "Pushes to peers that failed and were queued again.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).PushFailures) }},
		{name: "pushes_deferred_total", label: "side", help: "Pushes refused for now because the receiver already held as much as it may behind a hole in the sender's numbering: sent (our peers asked us for them again) and received (we asked our peers).",
			values: func(s *snapshot, c *shellCounters) []labeled {
				return by("sent", c.pushRetried.Load(), "received", ct(s).PushesDeferred)
			}},
		{name: "sequence_numbers_passed_total", label: "why", help: "Numbers of peers' per-topic numbering this daemon passed over: lost (declared lost, subscribers told) and why, or never meant for it (before_first, not_sent, unwanted).",
			values: func(s *snapshot, _ *shellCounters) []labeled { return byKeys(ct(s).Passed) }},
		{name: "push_streams_opened_total", help: "Ordered push streams opened to peers.",
			values: func(_ *snapshot, c *shellCounters) []labeled { return one(c.pushStreams.Load()) }},
		{name: "push_stream_failures_total", help: "Push streams that broke (each fails its unacknowledged pushes).",
			values: func(_ *snapshot, c *shellCounters) []labeled { return one(c.pushStreamErrs.Load()) }},
		{name: "mesh_push_frames_total", label: "wire", help: "Frames of pushes sent to peers, by wire: packed (PushPacked, a packed frame), batch (PushMessageBatchStream, a MessageBatch) and v1 (PushMessageStream, one envelope).",
			values: func(_ *snapshot, c *shellCounters) []labeled {
				out := make([]labeled, len(pushWires))
				for w, name := range pushWires {
					out[w] = labeled{v: float64(c.pushFrames[w].Load()), labels: []string{name}}
				}
				return out
			}},
		{name: "subscriber_packed_frames_total", help: "Packed frames of live messages sent to subscribers (SubscribePacked and Session streams). subscriber_packed_records_total over this is how many messages a frame carried: near 1 at low rates, growing toward 1024 as a subscriber's messages accumulate while it is sent to.",
			values: func(_ *snapshot, c *shellCounters) []labeled { return one(c.subFrames.Load()) }},
		{name: "subscriber_packed_records_total", help: "Live messages sent to subscribers in packed frames (see subscriber_packed_frames_total).",
			values: func(_ *snapshot, c *shellCounters) []labeled { return one(c.subFrameRecords.Load()) }},
		{name: "subscriber_packed_records_as_received_total", help: "Of subscriber_packed_records_total, the records copied into their frame as they lay in the packed frame they were published or pushed in, in runs, instead of encoded one by one: plain records that follow one another there.",
			values: func(_ *snapshot, c *shellCounters) []labeled { return one(c.subRunRecords.Load()) }},
		{name: "publish_waits_for_peers_total", help: "Publish frames (PublishStream, PublishPacked) and unary publishes held back while a link to a live peer held half of what it may before it sheds (at most --block-timeout each).",
			values: func(_ *snapshot, c *shellCounters) []labeled { return one(c.publishWaits.Load()) }},
		{name: "retained_synced_total", help: "Retained values sent to a peer whose fetched state lacked them.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).RetainedSynced) }},
		{name: "backpressure_warnings_total", help: "backpressure_warning events sent to subscribers.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).Warnings) }},
		{name: "block_timeouts_total", help: "Blocked messages that waited --block-timeout.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).BlockTimeouts) }},
		{name: "buffer_evicted_total", help: "Replay ring messages evicted by --message-buffer-size or --max-buffer-memory.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).BufferEvicted) }},
		{name: "message_slabs_reused_total", help: "Slabs of 32 published messages whose memory was used again for new ones instead of allocated: each was out of the replay rings and sent to every stream it was handed to.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).SlabsReused) }},
		{name: "frames_viewed_total", help: "Received frames (PublishPacked and PushPacked frames, PublishStream batches) whose payloads the daemon kept where gRPC received them instead of copying them.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).FramesViewed) }},
		{name: "shed_messages_total", label: "store", help: "Messages a store let go because it was full (its cap or --max-buffer-bytes), by store.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return byStores(ct(s).Shed) }},
		{name: "shed_bytes_total", label: "store", help: "Bytes of the messages stores let go because they were full, by store.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return byStores(ct(s).ShedBytes) }},
		{name: "beacons_sent_total", help: "Beacons sent (one per round, to the group and every seed).",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).BeaconsSent) }},
		{name: "beacon_send_errors_total", help: "Beacon datagrams the network refused.",
			values: func(_ *snapshot, c *shellCounters) []labeled { return one(c.beaconSendErrors.Load()) }},
		{name: "beacons_received_total", help: "Beacons accepted from peers of this cluster.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).BeaconsReceived) }},
		{name: "beacons_dropped_total", label: "reason", help: "Discovery datagrams dropped: too_large (over 1400 bytes), undecodable, invalid_address, address_mismatch (unsigned, and rpc_ip is not the address it came from), invalid, foreign_cluster, " +
			"unauthenticated (no tag; this daemon has a cluster key), unknown_key (signed with a key not in our keyring), bad_tag (forged or altered), keyed (signed; this daemon has no key), " +
			"replayed (a member's beacon seen before), after_leave (from an instance that left less than --peer-timeout ago), not_member, rate_limited (its source sent too many), new_peer_rate (too many new peers from one address), own (our own, looped back), peer_limit.",
			values: func(s *snapshot, c *shellCounters) []labeled {
				k := ct(s)
				out := by("invalid", k.Rejected["beacon_invalid"], "own", k.BeaconsIgnored, "peer_limit", k.Rejected["peer_limit"],
					"replayed", k.Rejected["beacon_replayed"], "after_leave", k.Rejected["beacon_after_leave"], "not_member", k.Rejected["beacon_not_member"], "new_peer_rate", k.Rejected["new_peer_rate"])
				for _, r := range beaconDropReasons {
					v := c.beaconDropped(r)
					if r == dropForeignCluster {
						v += k.Rejected["beacon_foreign_cluster"]
					}
					out = append(out, labeled{v: float64(v), labels: []string{r}})
				}
				return out
			}},
		{name: "syncs_total", label: "result", help: "State fetches (GetNodeState) from peers, by result.",
			values: func(s *snapshot, _ *shellCounters) []labeled {
				return by("ok", ct(s).FetchesOK, "failed", ct(s).FetchesFailed)
			}},
		{name: "probes_total", label: "result", help: "Direct probes of suspected peers, by result.",
			values: func(s *snapshot, _ *shellCounters) []labeled {
				return by("ok", ct(s).ProbesOK, "failed", ct(s).ProbesFailed)
			}},
		{name: "peers_removed_total", label: "reason", help: "Peers removed: dead (silent for --peer-timeout), replaced (a new instance at its address) or left (it said it was stopping).",
			values: func(s *snapshot, _ *shellCounters) []labeled {
				return by("dead", ct(s).PeersDead, "replaced", ct(s).PeersReplaced, "left", ct(s).PeersLeft)
			}},
		{name: "peers_moved_total", help: "Known peers followed to a new address, after a beacon from there and a probe the same instance answered.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).PeersMoved) }},
		{name: "peer_address_conflicts_total", help: "Beacons claiming a live peer's id from a second address: reported, not followed.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(ct(s).AddrConflicts) }},
		{name: "calls_timed_out_total", help: "Mesh calls the daemon failed because no answer came in time.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(s.loop.CallsTimedOut) }},
		{name: "rejected_total", label: "reason", help: "Input refused or dropped, by reason.",
			values: func(s *snapshot, c *shellCounters) []labeled {
				all := maps.Clone(ct(s).Rejected)
				if all == nil {
					all = map[string]uint64{}
				}
				for _, r := range beaconDropReasons {
					all["beacon_"+r] += c.beaconDropped(r)
				}
				var out []labeled
				for _, r := range slices.Sorted(maps.Keys(all)) {
					out = append(out, labeled{v: float64(all[r]), labels: []string{r}})
				}
				return out
			}},

		{name: "peers", gauge: true, label: "status", help: "Known peers by status.",
			values: func(s *snapshot, _ *shellCounters) []labeled {
				return by("alive", s.status.PeersAlive, "suspected", s.status.PeersSuspected)
			}},
		{name: "subscriptions", gauge: true, label: "state", help: "Local subscriptions: active (with a stream) and paused.",
			values: func(s *snapshot, _ *shellCounters) []labeled {
				return by("active", s.status.Subscriptions, "paused", s.status.Paused)
			}},
		{name: "subscriber_queue_depth", gauge: true, help: "Messages waiting in subscription queues, all subscriptions.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.status.QueuedMsgs)) }},
		{name: "subscriber_queue_bytes", gauge: true, help: "Bytes held by subscription queues (payload, topic and a fixed overhead a message).",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.status.QueuedBytes)) }},
		{name: "memory_bytes", gauge: true, label: "store", help: "Bytes each store holds (payload, topic and a fixed overhead a message), under --max-buffer-bytes together.",
			values: func(s *snapshot, _ *shellCounters) []labeled {
				m := s.status.Memory
				return by("ring", m.Ring, "queue", m.Queues, "backlog", m.Backlogs, "departed", m.Departed,
					"held", m.Held, "retained", m.Retained, "dedup", m.Dedup)
			}},
		{name: "memory_budget_bytes", gauge: true, help: "The budget all stores share (--max-buffer-bytes).",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.status.Memory.Budget)) }},
		{name: "peer_backlog_messages", gauge: true, help: "Messages waiting to be pushed to peers.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.status.BacklogMsgs)) }},
		{name: "retained_messages", gauge: true, help: "Retained values held.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.status.Retained)) }},
		{name: "retained_bytes", gauge: true, help: "Bytes of retained values held (payload, topic and a fixed overhead each).",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.status.RetainedBytes)) }},
		{name: "buffered_messages", gauge: true, help: "Messages in replay rings.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.status.BufferedMsgs)) }},
		{name: "buffered_bytes", gauge: true, help: "Bytes in replay rings (payload, topic and a fixed overhead a message; capped by --max-buffer-memory).",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.status.BufferedBytes)) }},
		{name: "topic_patterns", gauge: true, help: "Distinct subscribed patterns on this daemon (active and paused).",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.status.Patterns)) }},
		{name: "syncs_in_flight", gauge: true, help: "State fetches under way.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.status.FetchesInFlight)) }},
		{name: "loop_queue_length", gauge: true, help: "Events waiting for the goroutine that owns the protocol state.",
			values: func(s *snapshot, _ *shellCounters) []labeled { return one(uint64(s.queue)) }},
	}
}

// coreCollector turns a fresh snapshot from the loop into metrics. When
// the loop cannot answer (shutting down), it reports the last snapshot.
type coreCollector struct {
	defs  []*metricDef
	info  *prometheus.Desc
	snap  func() (snapshot, bool)
	shell *shellCounters

	mu   sync.Mutex
	last snapshot
}

func newCoreCollector(nodeID, cluster string, snap func() (snapshot, bool), shell *shellCounters) *coreCollector {
	c := &coreCollector{defs: coreMetricDefs(), snap: snap, shell: shell,
		info: prometheus.NewDesc("nexusd_info", "This daemon's instance id and cluster (value 1).", nil,
			prometheus.Labels{"node_id": nodeID, "cluster": cluster})}
	for _, d := range c.defs {
		var labels []string
		if d.label != "" {
			labels = []string{d.label}
		}
		d.desc = prometheus.NewDesc("nexusd_"+d.name, d.help, labels, nil)
	}
	return c
}

func (c *coreCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.info
	for _, d := range c.defs {
		ch <- d.desc
	}
}

func (c *coreCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if s, ok := c.snap(); ok {
		c.last = s
	}
	s := c.last
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1)
	for _, d := range c.defs {
		t := prometheus.CounterValue
		if d.gauge {
			t = prometheus.GaugeValue
		}
		for _, v := range d.values(&s, c.shell) {
			ch <- prometheus.MustNewConstMetric(d.desc, t, v.v, v.labels...)
		}
	}
}
