package main

import "time"

// A measurement is one kind of run; it yields one or more result rows
// (latency yields one per percentile).
type measurement struct {
	id     string
	unit   string
	higher bool // a higher figure is better
	quick  bool // part of the quick pass (make bench)
	rows   []string
	fn     func(sys system, name, bin string, dur time.Duration) (map[string]float64, error)
	nodes  int  // servers to start; 0: the function starts its own
	socket bool // nexusd's clients reach it on its --app-socket, not TCP
}

func tp(pubNode, subNode, subs int, mode string, callers, batch int) func(system, string, string, time.Duration) (map[string]float64, error) {
	return func(sys system, _, _ string, dur time.Duration) (map[string]float64, error) {
		v, err := throughput(sys, pubNode, subNode, subs, mode, callers, batch, dur)
		return map[string]float64{"": v}, err
	}
}

func lat(mode string, rate float64) func(system, string, string, time.Duration) (map[string]float64, error) {
	return func(sys system, _, _ string, dur time.Duration) (map[string]float64, error) {
		p, err := latency(sys, 0, 0, mode, rate, dur)
		if err != nil {
			return nil, err
		}
		return map[string]float64{"-p50": p["p50"], "-p90": p["p90"], "-p99": p["p99"], "-p99.9": p["p99.9"]}, nil
	}
}

var percentiles = []string{"-p50", "-p90", "-p99", "-p99.9"}

var measurements = []*measurement{
	{id: "local-1to1-unary", unit: "msg/s", higher: true, quick: true, nodes: 1, fn: tp(0, 0, 1, "unary", 1, 64)},
	{id: "local-1to1-unary64", unit: "msg/s", higher: true, quick: true, nodes: 1, fn: tp(0, 0, 1, "unary", 64, 64)},
	{id: "local-1to1-stream", unit: "msg/s", higher: true, quick: true, nodes: 1, fn: tp(0, 0, 1, "stream", 1, 64)},
	// The same v1 calls with 1024-message frames both ways (PublishBatch and
	// the subscription's MaxBatch), the most the daemon packs; NATS as above.
	{id: "local-1to1-stream-f1024", unit: "msg/s", higher: true, quick: true, nodes: 1, fn: tp(0, 0, 1, "stream1024", 1, 1024)},
	{id: "local-1to1-client-library", unit: "msg/s", higher: true, quick: true, nodes: 1, fn: viaClient(false)},
	// The same with the subscriber borrowing its messages (BorrowPayloads).
	{id: "local-1to1-client-library-borrowed", unit: "msg/s", higher: true, quick: true, nodes: 1, fn: viaClient(true)},
	{id: "local-1to1-stream-unbatched", unit: "msg/s", higher: true, quick: true, nodes: 1, fn: tp(0, 0, 1, "stream", 1, 0)},
	{id: "fanout-1to10", unit: "deliveries/s", higher: true, quick: true, nodes: 1, fn: tp(0, 0, 10, "stream", 1, 64)},
	{id: "latency-10k-stream", unit: "µs", rows: percentiles, quick: true, nodes: 1, fn: lat("stream", 10000)},
	{id: "latency-10k-unary", unit: "µs", rows: percentiles, quick: true, nodes: 1, fn: lat("unary", 10000)},
	{id: "latency-50k-stream", unit: "µs", rows: percentiles, nodes: 1, fn: lat("stream", 50000)},
	{id: "latency-50k-unary", unit: "µs", rows: percentiles, nodes: 1, fn: lat("unary", 50000)},
	{id: "cross-node", unit: "msg/s", higher: true, quick: true, nodes: 2, fn: tp(0, 1, 1, "stream", 1, 64)},
	// Request/reply (request.go): sequential round trips, requester and
	// responder on different servers.
	{id: "request-reply-cross-node", unit: "µs", rows: percentiles, quick: true, nodes: 2, fn: requestReply},
	// The packed path (packed.go): PublishPacked with natural batching and
	// SubscribePacked; NATS as in the v1 rows above, the relay n/a.
	{id: "local-1to1-packed", unit: "msg/s", higher: true, quick: true, nodes: 1, fn: packedTP(0, 0)},
	// The same over the daemon's Unix socket (--app-socket), whose
	// connections both ends give 4 MiB buffers; NATS over TCP as above.
	{id: "local-1to1-packed-socket", unit: "msg/s", higher: true, quick: true, nodes: 1, socket: true, fn: packedTP(0, 0)},
	{id: "cross-node-packed", unit: "msg/s", higher: true, quick: true, nodes: 2, fn: packedTP(0, 1)},
	// The same with the publisher held to 64k messages not yet delivered,
	// both systems alike: what NATS, which cuts off a subscriber that falls
	// behind, carries across when it must lose nothing.
	{id: "cross-node-packed-windowed", unit: "msg/s", higher: true, quick: true, nodes: 2, fn: windowedPackedTP(0, 1, 64<<10)},
	// The same with each client on its daemon's app socket, as
	// local-1to1-packed-socket; the daemons' mesh link stays TCP.
	{id: "cross-node-packed-windowed-socket", unit: "msg/s", higher: true, quick: true, nodes: 2, socket: true, fn: windowedPackedTP(0, 1, 64<<10)},
	{id: "latency-10k-packed", unit: "µs", rows: percentiles, quick: true, nodes: 1, fn: packedLat(10000)},
	{id: "latency-50k-packed", unit: "µs", rows: percentiles, nodes: 1, fn: packedLat(50000)},
	// The same over the daemon's app socket, as local-1to1-packed-socket.
	{id: "latency-10k-packed-socket", unit: "µs", rows: percentiles, quick: true, nodes: 1, socket: true, fn: packedLat(10000)},
	{id: "idle-rss", unit: "MB", quick: true, nodes: 1, fn: func(sys system, _, _ string, _ time.Duration) (map[string]float64, error) {
		v, err := idleRSS(sys)
		return map[string]float64{"": v}, err
	}},
	{id: "memory-per-subscription", unit: "bytes", nodes: 1, fn: func(sys system, _, _ string, _ time.Duration) (map[string]float64, error) {
		v, err := perSubscription(sys, 1000)
		return map[string]float64{"": v}, err
	}},
	// Subscriptions sharing one Session stream (session.go); NATS as in the
	// row above (its subscriptions share a connection anyway).
	{id: "memory-per-subscription-session", unit: "bytes", nodes: 1, fn: func(sys system, _, _ string, _ time.Duration) (map[string]float64, error) {
		v, err := perSessionSubscription(sys, 5000)
		return map[string]float64{"": v}, err
	}},
	{id: "memory-per-retained-topic", unit: "bytes", nodes: 1, fn: func(sys system, _, _ string, _ time.Duration) (map[string]float64, error) {
		v, err := perRetained(sys, 20000)
		return map[string]float64{"": v}, err
	}},
	// Resident memory per idle peer (what the OS sees, runtime caches
	// included), and for nexusd its live Go heap per idle peer after a
	// collection (what the daemon itself holds), from one run.
	{id: "memory-per-peer", unit: "bytes", rows: []string{"-rss", "-heap"}, fn: func(_ system, name, bin string, _ time.Duration) (map[string]float64, error) {
		return perPeer(name, bin, 24)
	}},
}

func measurementByID(id string) *measurement {
	for _, m := range measurements {
		if m.id == id {
			return m
		}
	}
	return nil
}

func (m *measurement) rowIDs() []string {
	if len(m.rows) == 0 {
		return []string{m.id}
	}
	var out []string
	for _, r := range m.rows {
		out = append(out, m.id+r)
	}
	return out
}

// run starts the system's servers, measures, and stops them.
func (m *measurement) run(sysName, bin string, dur time.Duration) (map[string]float64, error) {
	sys, err := newSystem(sysName, bin)
	if err != nil {
		return nil, err
	}
	if ns, ok := sys.(*nexusdSys); ok && m.socket {
		ns.socket = true
	}
	if m.nodes > 0 {
		if err := sys.start(m.nodes); err != nil {
			sys.stop()
			return nil, err
		}
		defer sys.stop()
	}
	return m.fn(sys, sysName, bin, dur)
}
