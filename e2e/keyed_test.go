package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/nexusd/nexusd/internal/keyring"
	"github.com/nexusd/nexusd/internal/mcastsock"
	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/state"
)

// What the tests of a keyed mesh (issue 12) share: cluster keys and their
// files, a tap on the discovery group, beacons forged or replayed onto it,
// and a fake daemon's mesh server that counts whatever reaches it.

// beaconGroup is the daemons' default discovery group.
var beaconGroup = net.ParseIP("239.255.42.1")

// clusterKey is one cluster key: its keyring line and the key it parses to.
type clusterKey struct {
	line string
	key  keyring.Key
}

// newKey makes a key with `nexusd keygen`, as an operator would.
func newKey(t testing.TB) clusterKey {
	t.Helper()
	out, err := exec.Command(testnet.Binary(t), "keygen").Output()
	if err != nil {
		t.Fatalf("nexusd keygen: %v", err)
	}
	line := strings.TrimSpace(string(out))
	ring, err := keyring.Parse([]byte(line))
	if err != nil {
		t.Fatalf("nexusd keygen printed %q: %v", line, err)
	}
	return clusterKey{line: line, key: ring.Primary()}
}

// keyFile writes keys (the first is the primary) to a new 0600 file.
func keyFile(t testing.TB, keys ...clusterKey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.key")
	writeKeys(t, path, keys...)
	return path
}

// writeKeys replaces the keyring at path in one rename, so a daemon never
// reads half a file.
func writeKeys(t testing.TB, path string, keys ...clusterKey) {
	t.Helper()
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k.line + "\n")
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// keyed is cfg with --cluster-key file.
func keyed(cfg testnet.Config, file string, more ...string) testnet.Config {
	cfg.Args = append(append(append([]string(nil), cfg.Args...), "--cluster-key", file), more...)
	return cfg
}

// dropped is how many discovery datagrams d dropped for reason (the names
// netshell/convert.go's beaconDropReasons and metrics.go give them).
func dropped(d *testnet.Daemon, reason string) float64 {
	return d.Metric(fmt.Sprintf(`nexusd_beacons_dropped_total{reason=%q}`, reason))
}

// waitDropped waits until every daemon has dropped at least min datagrams
// for reason.
func waitDropped(t testing.TB, timeout time.Duration, reason string, min float64, nodes ...*node) {
	t.Helper()
	testnet.Eventually(t, timeout, fmt.Sprintf("%d beacons dropped as %s by %s", int(min), reason, names(nodes)), func() error {
		for _, n := range nodes {
			if v := dropped(n.Daemon, reason); v < min {
				return fmt.Errorf("%s dropped %v as %s", n.name, v, reason)
			}
		}
		return nil
	})
}

// peerIDs lists the instance ids n has as peers, in any status.
func (n *node) peerIDs() ([]string, error) {
	ps, err := n.peers()
	var ids []string
	for _, p := range ps {
		ids = append(ids, p.GetInstanceUuid())
	}
	return ids, err
}

// statusPeers lists the peer ids /api/status shows.
func statusPeers(d *testnet.Daemon) ([]string, error) {
	var st struct {
		Peers []struct {
			ID string `json:"id"`
		} `json:"peers"`
	}
	body, err := d.Get("/api/status")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range st.Peers {
		ids = append(ids, p.ID)
	}
	return ids, nil
}

// requirePeers fails t unless n's peers (GetPeers and /api/status) are
// exactly want, by id.
func requirePeers(t testing.TB, n *node, want ...*node) {
	t.Helper()
	wantIDs := map[string]bool{}
	for _, w := range want {
		wantIDs[w.id] = true
	}
	for _, src := range []struct {
		name string
		list func() ([]string, error)
	}{{"GetPeers", n.peerIDs}, {"/api/status", func() ([]string, error) { return statusPeers(n.Daemon) }}} {
		ids, err := src.list()
		if err != nil {
			t.Fatalf("%s %s: %v", n.name, src.name, err)
		}
		if len(ids) != len(want) {
			t.Errorf("%s %s lists %d peers %v, want %s", n.name, src.name, len(ids), ids, names(want))
		}
		for _, id := range ids {
			if !wantIDs[id] {
				t.Errorf("%s %s lists %s, which is none of %s", n.name, src.name, id, names(want))
			}
		}
	}
}

// captured is one datagram read off the discovery group.
type captured struct {
	data   []byte
	beacon *discoverypb.Beacon
}

// beaconTap reads every datagram sent to the discovery group on port, as
// any host on the link could.
type beaconTap struct {
	t  testing.TB
	ch chan captured
}

func tapGroup(t testing.TB, port int) *beaconTap {
	t.Helper()
	lc := net.ListenConfig{Control: mcastsock.SharePort}
	conn, err := lc.ListenPacket(context.Background(), "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := ipv4.NewPacketConn(conn).JoinGroup(lo, &net.UDPAddr{IP: beaconGroup}); err != nil {
		t.Fatalf("join %s on lo: %v", beaconGroup, err)
	}
	tap := &beaconTap{t: t, ch: make(chan captured, 4096)}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			var b discoverypb.Beacon
			if proto.Unmarshal(buf[:n], &b) != nil {
				continue
			}
			select {
			case tap.ch <- captured{data: append([]byte(nil), buf[:n]...), beacon: &b}:
			default: // the test reads what it needs; the rest is dropped
			}
		}
	}()
	return tap
}

// from reads count distinct datagrams of instance id, in the order sent.
func (tap *beaconTap) from(id string, count int, timeout time.Duration) []captured {
	tap.t.Helper()
	var out []captured
	deadline := time.After(timeout)
	for len(out) < count {
		select {
		case c := <-tap.ch:
			if c.beacon.GetInstanceUuid() == id {
				out = append(out, c)
			}
		case <-deadline:
			tap.t.Fatalf("%d of %d beacons of %s captured within %s", len(out), count, id, timeout)
		}
	}
	return out
}

// groupSender sends datagrams to the discovery group on port from src, an
// address of loopback (any of 127.0.0.0/8), as another host would; from
// "0.0.0.0" it sends as the daemons do (an unbound socket with the
// multicast interface set), so the datagrams carry their source address.
func groupSender(t testing.TB, src string, port int) *sender {
	t.Helper()
	group := &net.UDPAddr{IP: beaconGroup, Port: port}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(src)})
	if err != nil {
		t.Fatalf("sending from %s to the group: %v", src, err)
	}
	t.Cleanup(func() { conn.Close() })
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := ipv4.NewPacketConn(conn).SetMulticastInterface(lo); err != nil {
		t.Fatal(err)
	}
	return &sender{conn: conn, to: group}
}

type sender struct {
	conn *net.UDPConn
	to   *net.UDPAddr
}

// Write sends one datagram; like a flood, it does not care whether it
// arrives.
func (s *sender) Write(data []byte) { s.conn.WriteToUDP(data, s.to) }

// encodeBeacon is b's encoding, unsigned: what a daemon without a key sends.
func encodeBeacon(b *discoverypb.Beacon) []byte {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	if err != nil {
		panic(err) // a Beacon always encodes
	}
	return data
}

// signBeacon is b's encoding signed with k as proto/discovery.proto says
// (auth_tag: HMAC-SHA256 over the rest of the encoding, key_id naming k).
// The topic hash is not masked: these beacons are forgeries.
func signBeacon(b *discoverypb.Beacon, k keyring.Key) []byte {
	b = proto.Clone(b).(*discoverypb.Beacon)
	b.AuthTag, b.KeyId = nil, k.ID
	data := encodeBeacon(b)
	tag := k.MAC("beacon tag", data)
	data = protowire.AppendTag(data, 8, protowire.BytesType)
	return protowire.AppendBytes(data, tag[:])
}

// fakeMesh is a stranger's mesh server: it serves MeshService as a daemon
// subscribed to everything ("#") would, and counts what reaches it.
type fakeMesh struct {
	meshpb.UnimplementedMeshServiceServer
	id       string
	addr     string       // host:port it listens on
	conns    atomic.Int64 // TCP connections accepted
	calls    atomic.Int64 // mesh calls served
	messages atomic.Int64 // envelopes pushed to it
}

// everything is the fake's subscription: every topic.
var everything = []string{"#"}

func startFakeMesh(t testing.TB, ip string) *fakeMesh {
	t.Helper()
	l, err := net.Listen("tcp4", net.JoinHostPort(ip, strconv.Itoa(testnet.Port())))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMesh{id: newUUID(), addr: l.Addr().String()}
	srv := grpc.NewServer()
	meshpb.RegisterMeshServiceServer(srv, f)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(countingListener{l, &f.conns})
	t.Cleanup(srv.Stop)
	return f
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func (f *fakeMesh) GetNodeState(context.Context, *emptypb.Empty) (*meshpb.NodeState, error) {
	f.calls.Add(1)
	return &meshpb.NodeState{InstanceUuid: f.id, Topics: everything, TopicStateHash: state.TopicStateHash(everything)}, nil
}

func (f *fakeMesh) PushMessage(_ context.Context, e *meshpb.MessageEnvelope) (*meshpb.Ack, error) {
	f.calls.Add(1)
	f.messages.Add(1)
	return &meshpb.Ack{Success: true, MessageId: e.GetMessageId()}, nil
}

func (f *fakeMesh) PushMessageStream(st grpc.BidiStreamingServer[meshpb.MessageEnvelope, meshpb.Ack]) error {
	f.calls.Add(1)
	for {
		e, err := st.Recv()
		if err != nil {
			return nil
		}
		f.messages.Add(1)
		if err := st.Send(&meshpb.Ack{Success: true, MessageId: e.GetMessageId()}); err != nil {
			return nil
		}
	}
}

func (f *fakeMesh) PushMessageBatchStream(st grpc.BidiStreamingServer[meshpb.MessageBatch, meshpb.BatchAck]) error {
	f.calls.Add(1)
	var n uint64
	for {
		b, err := st.Recv()
		if err != nil {
			return nil
		}
		n += uint64(len(b.GetMessages()))
		f.messages.Add(int64(len(b.GetMessages())))
		if err := st.Send(&meshpb.BatchAck{Accepted: n}); err != nil {
			return nil
		}
	}
}

func (f *fakeMesh) ResendMessages(context.Context, *meshpb.ResendRequest) (*meshpb.ResendResponse, error) {
	f.calls.Add(1)
	return &meshpb.ResendResponse{InstanceUuid: f.id}, nil
}

// reached describes what reached the fake, for a test's message.
func (f *fakeMesh) reached() string {
	return fmt.Sprintf("%d connections, %d calls, %d messages", f.conns.Load(), f.calls.Load(), f.messages.Load())
}

// beacon is the fake's beacon for cluster, unsigned, numbered counter.
func (f *fakeMesh) beacon(cluster string, epoch, counter uint64) *discoverypb.Beacon {
	host, port, _ := net.SplitHostPort(f.addr)
	p, _ := strconv.Atoi(port)
	return &discoverypb.Beacon{InstanceUuid: f.id, ClusterId: cluster, RpcIp: host, RpcPort: int32(p),
		TopicStateHash: state.TopicStateHash(everything), TimestampMs: time.Now().UnixMilli(), ProtocolVersion: 1,
		BootEpoch: epoch, Counter: counter}
}

// repeat calls send every interval until the test ends or stop is called.
func repeat(t testing.TB, interval time.Duration, send func(i int)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			send(i)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

// stopTogether stops the nodes side by side when the test ends (each stop
// takes about a second), before their own cleanups, which then find them
// stopped. Call it once every node of the test has started.
func stopTogether(t testing.TB, nodes ...*node) {
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(n.Stop)
		}
		wg.Wait()
	})
}

// keyedPair launches daemons a and b of cluster, both with the key file
// (and more flags), waits until they see each other, and stops them
// together when the test ends.
func keyedPair(t testing.TB, cluster string, port int, file string, more ...string) (a, b *node) {
	t.Helper()
	nodes := launchMesh(t, keyed(testnet.Config{Name: "a", Cluster: cluster, McastPort: port}, file, more...),
		keyed(testnet.Config{Name: "b", Cluster: cluster, McastPort: port}, file, more...))
	stopTogether(t, nodes...)
	return nodes[0], nodes[1]
}
