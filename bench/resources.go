package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/nexusd/nexusd/proto/sidecarpb"
)

// settle lets a fresh server finish starting before its memory is read.
const settle = 2 * time.Second

func rssOf(sys system) (int64, error) {
	var total int64
	for _, pid := range sys.pids() {
		r, err := rssBytes(pid)
		if err != nil {
			return 0, err
		}
		total += r
	}
	return total, nil
}

// idleRSS is a freshly started server's resident memory, in MB.
func idleRSS(sys system) (float64, error) {
	time.Sleep(settle)
	r, err := rssOf(sys)
	return float64(r) / (1 << 20), err
}

// perSubscription is the server's memory per idle subscription, in bytes:
// the growth after opening n of them, over n.
func perSubscription(sys system, n int) (float64, error) {
	time.Sleep(settle)
	before, err := rssOf(sys)
	if err != nil {
		return 0, err
	}
	for range n {
		stop, err := sys.subscribe(0, 0, func([]byte) {})
		if err != nil {
			return 0, err
		}
		defer stop()
	}
	time.Sleep(settle)
	after, err := rssOf(sys)
	return float64(after-before) / float64(n), err
}

// perRetained is nexusd's memory per retained topic, in bytes (16-byte
// values on distinct topics). Core NATS has no retained values.
func perRetained(sys system, n int) (float64, error) {
	s, ok := sys.(*nexusdSys)
	if !ok {
		return 0, errNotApplicable
	}
	time.Sleep(settle)
	before, err := rssOf(sys)
	if err != nil {
		return 0, err
	}
	api := pb.NewSidecarServiceClient(s.conns[0])
	ctx := context.Background()
	stream, err := api.PublishStream(ctx)
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; i += 256 {
		b := &pb.PublishBatch{}
		for j := i; j < min(i+256, n); j++ {
			b.Requests = append(b.Requests, &pb.PublishRequest{Topic: "retained/" + strconv.Itoa(j), Payload: make([]byte, 16), Retain: true})
		}
		if err := stream.Send(b); err != nil {
			return 0, err
		}
	}
	stream.CloseSend()
	for {
		ack, err := stream.Recv()
		if err != nil {
			return 0, fmt.Errorf("publish stream ended before every retained value was taken: %w", err)
		}
		if ack.GetAccepted() >= uint64(n) {
			break
		}
	}
	time.Sleep(settle)
	after, err := rssOf(sys)
	return float64(after-before) / float64(n), err
}

// perPeer is memory per idle peer, in bytes: one server's growth when n
// others join it. For nexusd they are daemons seeded with its address; for
// NATS, servers routed to it (the nearest thing a NATS cluster has).
func perPeer(name, bin string, n int) (map[string]float64, error) {
	first, err := newSystem(name, bin)
	if err != nil {
		return nil, err
	}
	switch s := first.(type) {
	case *nexusdSys:
		return nexusdPerPeer(s, n)
	case *natsSys:
		v, err := natsPerPeer(s, n)
		return map[string]float64{"-rss": v}, err
	}
	return nil, errNotApplicable
}

// The hub first meets one warm-up peer, so what a daemon builds once, on
// its first peer (gRPC buffer pools, HPACK tables, protobuf descriptors),
// is in the baseline and not charged to the n peers measured.
func nexusdPerPeer(s *nexusdSys, n int) (map[string]float64, error) {
	ports, err := freePorts(3*(n+2) + 1)
	if err != nil {
		return nil, err
	}
	admin := fmt.Sprintf("127.0.0.1:%d", ports[3*(n+2)])
	start := func(i int, seed string) (*proc, error) {
		http := "off"
		if i == 0 {
			http = admin
		}
		args := []string{"--mcast-addr", "off", "--mcast-iface", "lo", "--mcast-port", strconv.Itoa(ports[3*i]), "--mesh-port", strconv.Itoa(ports[3*i+1]),
			"--app-port", strconv.Itoa(ports[3*i+2]), "--bind", "127.0.0.1", "--advertise-addr", "127.0.0.1",
			"--http-addr", http, "--log-level", "ERROR"}
		if seed != "" {
			args = append(args, "--peers", seed)
		}
		return startProc(fmt.Sprintf("nexusd%d", i), s.bin, s.env, args...)
	}
	hub, err := start(0, "")
	if err != nil {
		return nil, err
	}
	defer hub.stop()
	seed := fmt.Sprintf("127.0.0.1:%d", ports[0])
	warm, err := start(n+1, seed)
	if err != nil {
		return nil, err
	}
	defer warm.stop()
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", ports[2]), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	api := pb.NewSidecarServiceClient(conn)
	knows := func(k int) func() bool {
		return func() bool {
			r, err := api.GetPeers(context.Background(), &pb.GetPeersRequest{})
			return err == nil && len(r.GetPeers()) == k
		}
	}
	if err := waitFor(30*time.Second, "the hub to know its warm-up peer", knows(1)); err != nil {
		return nil, err
	}
	time.Sleep(2 * settle)
	heapBefore, err := liveHeap(admin)
	if err != nil {
		return nil, err
	}
	rssBefore, err := rssBytes(hub.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		p, err := start(i, seed)
		if err != nil {
			return nil, err
		}
		defer p.stop()
	}
	if err := waitFor(30*time.Second, fmt.Sprintf("the hub to know %d peers", n+1), knows(n+1)); err != nil {
		return nil, err
	}
	time.Sleep(idlePeer) // fetches done, connections idle and closed
	rssAfter, err := rssBytes(hub.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	heapAfter, err := liveHeap(admin)
	if err != nil {
		return nil, err
	}
	return map[string]float64{
		"-rss":  float64(rssAfter-rssBefore) / float64(n),
		"-heap": float64(heapAfter-heapBefore) / float64(n),
	}, nil
}

// liveHeap is a daemon's live Go heap after a collection, read from its
// pprof endpoint (which runs the collection when asked with gc=1).
func liveHeap(admin string) (int64, error) {
	resp, err := http.Get("http://" + admin + "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no HeapAlloc in the heap profile of %s", admin)
}

// idlePeer is how long peers sit idle before their memory is read: past
// the daemon's mesh idle timeout (20 s for a server connection).
const idlePeer = 22 * time.Second

func natsPerPeer(s *natsSys, n int) (float64, error) {
	ports, err := freePorts(2 * (n + 1))
	if err != nil {
		return 0, err
	}
	hub, err := startProc("nats0", selfPath(), nil, "serve-nats", "--port", strconv.Itoa(ports[0]), "--cluster-port", strconv.Itoa(ports[1]))
	if err != nil {
		return 0, err
	}
	defer hub.stop()
	if err := waitFor(10*time.Second, "nats hub", func() bool {
		nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", ports[0]))
		if err == nil {
			nc.Close()
		}
		return err == nil
	}); err != nil {
		return 0, err
	}
	time.Sleep(settle)
	before, err := rssBytes(hub.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	for i := 1; i <= n; i++ {
		p, err := startProc(fmt.Sprintf("nats%d", i), selfPath(), nil, "serve-nats", "--port", strconv.Itoa(ports[2*i]),
			"--cluster-port", strconv.Itoa(ports[2*i+1]), "--routes", fmt.Sprintf("nats://127.0.0.1:%d", ports[1]))
		if err != nil {
			return 0, err
		}
		defer p.stop()
	}
	time.Sleep(idlePeer)
	after, err := rssBytes(hub.cmd.Process.Pid)
	return float64(after-before) / float64(n), err
}
