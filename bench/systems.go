package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"

	"github.com/nexusd/nexusd/internal/bufpool"
	"github.com/nexusd/nexusd/internal/sockbuf"
	"github.com/nexusd/nexusd/internal/vtcodec"
	pb "github.com/nexusd/nexusd/proto/sidecarpb"
)

// A system under test: one or two server processes and a way to publish
// and subscribe through them.
type system interface {
	start(nodes int) error
	stop()
	pids() []int
	publisher(node int, mode string) (publisher, error) // mode: unary or stream
	// subscribe calls on with each message's payload, valid until on
	// returns, as it arrives. It reads no clock: a measurement that needs
	// a message's arrival time reads it in on, the same for every system.
	subscribe(node int, batch int, on func(payload []byte)) (func(), error)
}

type publisher interface {
	publish(payload []byte) error // unary: returns when answered; stream: queues
	flush() error                 // returns when everything published was taken
	close()
}

const (
	benchTopic   = "bench/t"
	benchSubject = "bench.t"
)

func newSystem(name, nexusdPath string) (system, error) {
	switch name {
	case "nexusd":
		return &nexusdSys{bin: nexusdPath}, nil
	case "nexusd-tls":
		return &keyedSys{nexusdSys: &nexusdSys{bin: nexusdPath}}, nil
	case "nexusd-bypass":
		// Not a daemon: the measuring build of bypass.go in netshell.
		return &nexusdSys{bin: nexusdPath + "-bypass"}, nil
	case "nexusd-bypass-hop":
		// The same, each frame passing through one goroutine more, as a
		// daemon's passes through its loop.
		return &nexusdSys{bin: nexusdPath + "-bypass", env: []string{"NEXUSD_BYPASS_HOP=1"}}, nil
	case "nats":
		return &natsSys{}, nil
	case "grpc-raw":
		return &relaySys{}, nil
	}
	return nil, fmt.Errorf("unknown system %q: want nexusd, nexusd-tls, nexusd-bypass, nexusd-bypass-hop, nats or grpc-raw", name)
}

// --- nexusd: the real daemon binary, seeds only, on loopback ---

type nexusdSys struct {
	bin    string
	extra  []string // flags every daemon gets
	env    []string // and environment entries
	socket bool     // clients dial each daemon's --app-socket
	dirs   []string // the sockets' directories, removed at stop
	procs  []*proc
	apps   []string
	conns  []*grpc.ClientConn
}

func (s *nexusdSys) start(nodes int) error {
	ports, err := freePorts(4 * nodes)
	if err != nil {
		return err
	}
	for i := range nodes {
		mesh, app, udp := ports[4*i], ports[4*i+1], ports[4*i+2]
		args := []string{"--mcast-addr", "off", "--mcast-iface", "lo", "--mcast-port", strconv.Itoa(udp), "--mesh-port", strconv.Itoa(mesh),
			"--app-port", strconv.Itoa(app), "--bind", "127.0.0.1", "--advertise-addr", "127.0.0.1",
			"--http-addr", "off", "--log-level", "ERROR"}
		args = append(args, s.extra...)
		addr := fmt.Sprintf("127.0.0.1:%d", app)
		if s.socket {
			dir, err := os.MkdirTemp("", "nexusd-bench-")
			if err != nil {
				return err
			}
			s.dirs = append(s.dirs, dir)
			path := filepath.Join(dir, "app.sock")
			args = append(args, "--app-socket", path)
			addr = "unix://" + path
		}
		if nodes > 1 {
			var seeds string
			for j := range nodes {
				if j != i {
					seeds += fmt.Sprintf("127.0.0.1:%d,", ports[4*j+2])
				}
			}
			args = append(args, "--peers", seeds[:len(seeds)-1])
		}
		p, err := startProc(fmt.Sprintf("nexusd%d", i+1), s.bin, s.env, args...)
		if err != nil {
			return err
		}
		s.procs = append(s.procs, p)
		s.apps = append(s.apps, addr)
	}
	for i, addr := range s.apps {
		opts := append(stubDialOptions(), grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
		if s.socket {
			opts = append(opts, grpc.WithContextDialer(dialSocket))
		}
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			return err
		}
		s.conns = append(s.conns, conn)
		api := pb.NewSidecarServiceClient(conn)
		if err := waitFor(10*time.Second, "nexusd sidecar", func() bool {
			_, err := api.GetTopics(context.Background(), &pb.GetTopicsRequest{})
			return err == nil
		}); err != nil {
			return fmt.Errorf("%w\n%s", err, s.procs[i].tail())
		}
	}
	return nil
}

func (s *nexusdSys) stop() {
	for _, c := range s.conns {
		c.Close()
	}
	for _, p := range s.procs {
		p.stop()
	}
	for _, d := range s.dirs {
		os.RemoveAll(d)
	}
}

func (s *nexusdSys) pids() []int { return procPIDs(s.procs) }

func (s *nexusdSys) publisher(node int, mode string) (publisher, error) {
	return newGRPCPublisher(s.conns[node], mode)
}

func (s *nexusdSys) subscribe(node int, batch int, on func([]byte)) (func(), error) {
	return grpcSubscribe(s.conns[node], batch, on)
}

// --- nexusd-tls: nexusd daemons sharing a cluster key ---

// keyedSys is nexusdSys with a new cluster key shared by its daemons, so
// their mesh is mutual TLS (and their beacons signed). Only the mesh
// differs, so it measures only what crosses nodes.
type keyedSys struct {
	*nexusdSys
	dir string // holds the keyring; removed at stop
}

func (s *keyedSys) start(nodes int) error {
	if nodes < 2 {
		return errNotApplicable
	}
	dir, err := os.MkdirTemp("", "nexusd-bench-key")
	if err != nil {
		return err
	}
	s.dir = dir
	secret := make([]byte, 32)
	rand.Read(secret)
	path := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return err
	}
	s.extra = []string{"--cluster-key", path}
	return s.nexusdSys.start(nodes)
}

func (s *keyedSys) stop() {
	s.nexusdSys.stop()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// --- grpc-raw: the relay, in a child process ---

type relaySys struct {
	p    *proc
	conn *grpc.ClientConn
}

func (s *relaySys) start(nodes int) error {
	if nodes != 1 {
		return errNotApplicable
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	if s.p, err = startProc("relay", selfPath(), nil, "serve-relay", "--addr", addr); err != nil {
		return err
	}
	if s.conn, err = grpc.NewClient(addr, stubDialOptions()...); err != nil {
		return err
	}
	api := pb.NewSidecarServiceClient(s.conn)
	return waitFor(10*time.Second, "relay", func() bool {
		_, err := api.Publish(context.Background(), &pb.PublishRequest{Topic: "ping"})
		return err == nil
	})
}

func (s *relaySys) stop() {
	if s.conn != nil {
		s.conn.Close()
	}
	if s.p != nil {
		s.p.stop()
	}
}

func (s *relaySys) pids() []int { return procPIDs([]*proc{s.p}) }

func (s *relaySys) publisher(_ int, mode string) (publisher, error) {
	return newGRPCPublisher(s.conn, mode)
}

func (s *relaySys) subscribe(_ int, batch int, on func([]byte)) (func(), error) {
	return grpcSubscribe(s.conn, batch, on)
}

// --- NATS: embedded servers, each in a child process ---

type natsSys struct {
	procs []*proc
	urls  []string
	conns []*nats.Conn // subscribers share one connection per server, as in one application
}

func (s *natsSys) start(nodes int) error {
	ports, err := freePorts(2 * nodes)
	if err != nil {
		return err
	}
	for i := range nodes {
		args := []string{"serve-nats", "--port", strconv.Itoa(ports[2*i])}
		if nodes > 1 {
			args = append(args, "--cluster-port", strconv.Itoa(ports[2*i+1]))
			if i > 0 {
				args = append(args, "--routes", fmt.Sprintf("nats://127.0.0.1:%d", ports[1]))
			}
		}
		p, err := startProc(fmt.Sprintf("nats%d", i+1), selfPath(), nil, args...)
		if err != nil {
			return err
		}
		s.procs = append(s.procs, p)
		s.urls = append(s.urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[2*i]))
	}
	for i, url := range s.urls {
		var nc *nats.Conn
		if err := waitFor(10*time.Second, "nats server", func() bool {
			nc, err = natsConnect(url)
			return err == nil
		}); err != nil {
			return fmt.Errorf("%w\n%s", err, s.procs[i].tail())
		}
		s.conns = append(s.conns, nc)
	}
	return nil
}

func (s *natsSys) stop() {
	for _, c := range s.conns {
		c.Close()
	}
	for _, p := range s.procs {
		p.stop()
	}
}

func (s *natsSys) pids() []int { return procPIDs(s.procs) }

// natsConnect connects a client to one server of the cluster and keeps it
// there: a client that the server drops (a slow consumer, which is how
// NATS sheds a subscriber that falls behind) reconnects to its own node,
// never to the other servers the cluster advertises. With discovery left
// on, the cross-node subscriber, dropped once, came back on the
// publisher's server, and the rest of the run was a local one.
func natsConnect(url string) (*nats.Conn, error) {
	return nats.Connect(url, nats.IgnoreDiscoveredServers())
}

type natsPub struct{ nc *nats.Conn }

func (s *natsSys) publisher(node int, _ string) (publisher, error) {
	// NATS has one publish path: fire and forget, buffered by the client.
	nc, err := natsConnect(s.urls[node])
	if err != nil {
		return nil, err
	}
	return natsPub{nc}, nil
}

func (p natsPub) publish(b []byte) error { return p.nc.Publish(benchSubject, b) }
func (p natsPub) flush() error           { return p.nc.Flush() }
func (p natsPub) close()                 { p.nc.Close() }

func (s *natsSys) subscribe(node int, _ int, on func([]byte)) (func(), error) {
	nc := s.conns[node]
	sub, err := nc.Subscribe(benchSubject, func(m *nats.Msg) { on(m.Data) })
	if err != nil {
		return nil, err
	}
	if err := nc.Flush(); err != nil { // the server has the interest before we publish
		return nil, err
	}
	return func() { sub.Unsubscribe() }, nil
}

// --- the gRPC sidecar client shared by nexusd and the relay ---

type grpcUnary struct{ api pb.SidecarServiceClient }

func (p grpcUnary) publish(b []byte) error {
	_, err := p.api.Publish(context.Background(), &pb.PublishRequest{Topic: benchTopic, Payload: b})
	return err
}
func (p grpcUnary) flush() error { return nil }
func (p grpcUnary) close()       {}

// grpcStream publishes on PublishStream: messages gather into a frame of
// up to frame requests, sent from the publishing goroutine when full (or
// at once when frame is 1), acknowledged by a cumulative count.
type grpcStream struct {
	stream interface {
		Send(*pb.PublishBatch) error
		CloseSend() error
	}
	cancel context.CancelFunc
	frame  int
	window uint64 // messages let go unacknowledged
	batch  *pb.PublishBatch
	reqs   []pb.PublishRequest // reused: Send marshals before it returns
	sent   uint64
	acked  atomic.Uint64
	acks   chan struct{} // a signal per ack, for a publisher at its window
	done   chan struct{}
}

// window is how many messages a stream publisher lets go unacknowledged:
// with the block policy the daemon answers a publish only when its
// subscriber has room, so this carries the subscriber's pace back to the
// publisher and nothing is dropped. It must not pass the daemon's limit
// of messages held for one blocked subscriber (8192), or the oldest of
// them give way; it stays at the 1024 the v1 figures were measured with.
const window = 16 * frameSize

// frameSize is how many messages a throughput run packs per frame.
const frameSize = 64

// bigFrame is the frame of the "stream1024" mode: the largest a v1 frame
// of small messages gets (issue 13), with four of them in flight; still
// under the 8192 a blocked subscriber holds.
const bigFrame = 1024

func newGRPCPublisher(conn *grpc.ClientConn, mode string) (publisher, error) {
	api := pb.NewSidecarServiceClient(conn)
	frame, win := frameSize, uint64(window)
	switch mode {
	case "unary":
		return grpcUnary{api}, nil
	case "stream-each": // latency runs: every message its own frame, sent at once
		frame = 1
	case "stream1024":
		frame, win = bigFrame, 4*bigFrame
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := api.PublishStream(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	p := &grpcStream{stream: stream, cancel: cancel, frame: frame, window: win, batch: &pb.PublishBatch{},
		reqs: make([]pb.PublishRequest, frame), acks: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			ack, err := stream.Recv()
			if err != nil {
				return
			}
			p.acked.Store(ack.GetAccepted())
			select {
			case p.acks <- struct{}{}:
			default:
			}
		}
	}()
	return p, nil
}

func (p *grpcStream) publish(b []byte) error {
	r := &p.reqs[len(p.batch.Requests)]
	r.Topic, r.Payload = benchTopic, b
	p.batch.Requests = append(p.batch.Requests, r)
	if len(p.batch.Requests) < p.frame {
		return nil
	}
	return p.send()
}

func (p *grpcStream) send() error {
	if len(p.batch.Requests) == 0 {
		return nil
	}
	for p.sent-p.acked.Load() >= p.window {
		select {
		case <-p.acks:
		case <-p.done:
			return fmt.Errorf("publish stream ended")
		}
	}
	err := p.stream.Send(p.batch)
	p.sent += uint64(len(p.batch.Requests))
	p.batch.Requests = p.batch.Requests[:0]
	return err
}

func (p *grpcStream) flush() error {
	if err := p.send(); err != nil {
		return err
	}
	return waitFor(30*time.Second, "publish acks", func() bool { return p.acked.Load() >= p.sent })
}

func (p *grpcStream) close() {
	p.send()
	p.stream.CloseSend()
	p.cancel()
	<-p.done
}

func grpcSubscribe(conn *grpc.ClientConn, batch int, on func([]byte)) (func(), error) {
	api := pb.NewSidecarServiceClient(conn)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := api.Subscribe(ctx, &pb.SubscribeRequest{Topics: []string{benchTopic}, MaxBatch: int32(batch), BackpressurePolicy: subscriberPolicy})
	if err != nil {
		cancel()
		return nil, err
	}
	if _, err := stream.Recv(); err != nil { // subscription_info: the subscription exists
		cancel()
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// One event received into again and again, decoded in place in
		// the buffer gRPC received it in (vtcodec.Held: payloads, ids and
		// topics alias it), its messages reused from frame to frame
		// (vtprotobuf's pool), as a v1 client written for speed does,
		// instead of allocating a message and copying every field out of
		// each one received. A payload is valid until on returns.
		// Its batch's messages are emptied by hand before each Release:
		// the pool's ResetVT calls protobuf-go's Reset on each, an atomic
		// write apiece, about a tenth of this loop's CPU.
		var held vtcodec.Held[pb.MessageEvent, *pb.MessageEvent]
		defer held.Release()
		for {
			if b, ok := held.Msg().GetEvent().(*pb.MessageEvent_Batch); ok {
				for _, m := range b.Batch.Messages {
					*m = pb.Message{}
				}
				b.Batch.Messages = b.Batch.Messages[:0]
			}
			held.Release()
			if err := stream.RecvMsg(&held); err != nil {
				return
			}
			switch e := held.Msg().GetEvent().(type) {
			case *pb.MessageEvent_Message:
				on(e.Message.GetPayload())
			case *pb.MessageEvent_Batch:
				for _, m := range e.Batch.GetMessages() {
					on(m.GetPayload())
				}
			}
		}
	}()
	return func() { cancel(); wg.Wait() }, nil
}

// subscriberPolicy is what a full nexusd subscription queue does during a
// run: block holds publishers back instead of dropping (nexusd-bench
// --policy).
var subscriberPolicy = "block"

func procPIDs(ps []*proc) []int {
	var out []int
	for _, p := range ps {
		if p != nil {
			out = append(out, p.cmd.Process.Pid)
		}
	}
	return out
}

func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return p
}

// attach uses a daemon someone else started (for profiling).
func (s *nexusdSys) attach(app string) error {
	conn, err := grpc.NewClient(app, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	s.conns = append(s.conns, conn)
	return nil
}

// dialSocket dials a daemon's app socket ("unix:///path", as gRPC hands it
// over: the path) with the 4 MiB buffers the Go client library gives it.
func dialSocket(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", strings.TrimPrefix(addr, "unix://"))
	if err != nil {
		return nil, err
	}
	_ = sockbuf.Grow(c.(*net.UnixConn), 4<<20)
	return c, nil
}

// The transport sizes of the raw stubs' connections (nexusd's and the
// relay's) and of the relay's server: those the Go client library and the
// daemon use (client/client.go, netshell/grpc.go), so a stub is an
// application tuned as the library is, and the relay a server tuned as
// the daemon is: 16 MiB windows and 1 MiB read buffers everywhere, 1 MiB
// write buffers for the stubs as for the library, and gRPC's default
// 32 KiB write buffer for the relay's server as for the daemon's
// (netshell/grpc.go says why).
const (
	stubWindowBytes       = 16 << 20
	stubBufferBytes       = 1 << 20
	relayWriteBufferBytes = 32 << 10
)

// stubBuffers is the stub clients' buffer pool: the client library's
// kind (client.Dial), which hands out buffers as they were left, not
// zeroed as gRPC's default pool does (clearing them was 6% of the
// clients' CPU on local-1to1-packed).
var stubBuffers = &countedPool{Pool: bufpool.New()}

// countedPool counts the buffers taken, so a test sees that the stub
// clients' connections take theirs from it.
type countedPool struct {
	*bufpool.Pool
	gets atomic.Int64
}

func (p *countedPool) Get(n int) *[]byte {
	p.gets.Add(1)
	return p.Pool.Get(n)
}

func stubDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		experimental.WithBufferPool(stubBuffers),
		grpc.WithInitialWindowSize(stubWindowBytes),
		grpc.WithInitialConnWindowSize(stubWindowBytes),
		grpc.WithReadBufferSize(stubBufferBytes),
		grpc.WithWriteBufferSize(stubBufferBytes),
	}
}
