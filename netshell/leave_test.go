package netshell

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nexusd/nexusd/internal/keyring"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/state"
)

// leavingPair starts a, which would time a peer out only after a minute,
// and b, which beacons to a (discPort, a's discovery port) every 20 ms.
func leavingPair(t *testing.T, key string) (a, b *testServer, discPort string) {
	a = startServer(t, func(o *Options) {
		o.ClusterKeyFile = key
		o.SuspectAfter, o.PeerTimeout = 30*time.Second, time.Minute
	})
	_, discPort, _ = net.SplitHostPort(a.s.Addrs().Discovery)
	b = startServer(t, func(o *Options) {
		o.ClusterKeyFile = key
		o.Peers = []string{"127.0.0.1:" + discPort} // b beacons to a
		o.BeaconInterval = 20 * time.Millisecond
	})
	return a, b, discPort
}

// A daemon that shuts down sends its leave beacon before it closes its
// sockets, and a peer that hears it drops it at once: with a peer timeout
// of a minute, only the leave can remove it within the wait. With a
// cluster key the leave is signed and checked like any beacon.
func TestAStoppingDaemonIsDroppedByItsPeerAtOnce(t *testing.T) {
	withAndWithoutAKey(t, func(t *testing.T, key string) {
		a, b, _ := leavingPair(t, key)
		ctx := ctx5(t)
		counters := func() (known bool, c state.Counters) {
			if err := a.s.loop.query(ctx, func(l *loop) {
				known, c = l.node.KnowsPeer(b.s.ID()), l.node.Status().Counters
			}); err != nil {
				t.Fatal(err)
			}
			return known, c
		}
		until(t, "a to know b", func() bool { known, _ := counters(); return known })

		b.shutdown()
		until(t, "a to drop b after b's leave", func() bool { known, _ := counters(); return !known })
		if _, c := counters(); c.PeersLeft != 1 || c.PeersDead != 0 || c.PeersSuspected != 0 {
			t.Fatalf("a's counters: left=%d dead=%d suspected=%d, want 1 0 0", c.PeersLeft, c.PeersDead, c.PeersSuspected)
		}
		metrics := httpGet(t, a, "/metrics")
		if want := `nexusd_peers_removed_total{reason="left"} 1`; !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %s", want)
		}
	})
}

// muteLeave is the daemon's announcer with its leave beacons lost: the
// notice on the mesh is all its peers get.
type muteLeave struct{ announcer }

func (muteLeave) Leave(uint64) {}

// freeUDPPort is a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// With multicast off, two daemons seeded with each other hold mesh
// connections both ways. When one stops and its leave beacons are lost,
// its Leave notice on the mesh still makes the other drop it at once: with
// a peer timeout of a minute, only a leave can remove it within the wait.
// A notice naming no peer changes nothing and is counted.
func TestAStoppingDaemonsLeaveNoticeReachesItsPeerWhenBeaconsAreLost(t *testing.T) {
	withAndWithoutAKey(t, func(t *testing.T, key string) {
		bPort := freeUDPPort(t)
		a := startServer(t, func(o *Options) {
			o.ClusterKeyFile = key
			o.Peers = []string{"127.0.0.1:" + strconv.Itoa(bPort)} // a beacons to b
			o.BeaconInterval = 20 * time.Millisecond
			o.SuspectAfter, o.PeerTimeout = 30*time.Second, time.Minute
		})
		_, aPort, _ := net.SplitHostPort(a.s.Addrs().Discovery)
		b := startServer(t, func(o *Options) {
			o.ClusterKeyFile = key
			o.McastPort = bPort
			o.Peers = []string{"127.0.0.1:" + aPort} // b beacons to a
			o.BeaconInterval = 20 * time.Millisecond
			o.SuspectAfter, o.PeerTimeout = 30*time.Second, time.Minute
		})
		ctx := ctx5(t)
		counters := func() (known bool, c state.Counters) {
			if err := a.s.loop.query(ctx, func(l *loop) {
				known, c = l.node.KnowsPeer(b.s.ID()), l.node.Status().Counters
			}); err != nil {
				t.Fatal(err)
			}
			return known, c
		}
		connected := func() (ok bool) {
			if err := b.s.loop.query(ctx, func(l *loop) {
				ok = l.node.KnowsPeer(a.s.ID()) && l.mesh.(*meshClient).peers[a.s.ID()] != nil
			}); err != nil {
				t.Fatal(err)
			}
			return ok
		}
		until(t, "a to know b", func() bool { known, _ := counters(); return known })
		until(t, "b to know a and hold a connection to it", connected)

		if key == "" {
			client, _ := dialMesh(t, a.s.Addrs().Mesh, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if _, err := client.Leave(ctx, &meshpb.LeaveNotice{InstanceUuid: "no-such-instance"}); err != nil {
				t.Fatal(err)
			}
			until(t, "a to count the stranger's notice", func() bool { _, c := counters(); return c.LeavesIgnored == 1 })
			if known, c := counters(); !known || c.PeersLeft != 0 {
				t.Fatalf("after a stranger's notice: a knows b %v, left=%d; want true 0", known, c.PeersLeft)
			}
		}

		if err := b.s.loop.query(ctx, func(l *loop) { l.beacons = muteLeave{l.beacons} }); err != nil {
			t.Fatal(err)
		}
		_, before := counters()
		b.shutdown()
		until(t, "a to drop b after b's leave notice", func() bool { known, _ := counters(); return !known })
		_, c := counters()
		if c.PeersLeft != 1 || c.PeersDead != 0 || c.PeersSuspected != 0 {
			t.Fatalf("a's counters: left=%d dead=%d suspected=%d, want 1 0 0", c.PeersLeft, c.PeersDead, c.PeersSuspected)
		}
		if c.LeavesIgnored != before.LeavesIgnored {
			t.Fatalf("leaves ignored went from %d to %d: a leave beacon got through", before.LeavesIgnored, c.LeavesIgnored)
		}
	})
}

// withAndWithoutAKey runs test twice: daemons without a cluster key (key
// "") and with one (the key file's path).
// A beacon the stopped daemon sent just before leaving can land after its
// leave: the notice over the mesh outruns a datagram. a drops it, counts
// it, and keeps b out. The late beacon is the test's own, sent to a's
// discovery port after a dropped b: with b's key when there is one, and a
// pair above any b sent, so that only the hold-out can refuse it.
func TestABeaconLandingAfterALeaveDoesNotBringTheDaemonBack(t *testing.T) {
	withAndWithoutAKey(t, func(t *testing.T, key string) {
		a, b, discPort := leavingPair(t, key)
		ctx := ctx5(t)
		var bAddr, cluster string
		var afterLeave uint64 // beacons a dropped as landing after a leave
		known := func() (ok bool) {
			if err := a.s.loop.query(ctx, func(l *loop) {
				st := l.node.Status()
				ok, cluster, afterLeave = l.node.KnowsPeer(b.s.ID()), st.Cluster, st.Counters.Rejected["beacon_after_leave"]
				for _, p := range l.node.Peers() {
					if p.ID == b.s.ID() {
						bAddr = p.Addr
					}
				}
			}); err != nil {
				t.Fatal(err)
			}
			return ok
		}
		until(t, "a to know b", known)
		b.shutdown()
		until(t, "a to drop b after b's leave", func() bool { return !known() })
		before := afterLeave // b's own last beacon may have landed late already

		var keys *beaconKeys
		if key != "" {
			r, err := keyring.Load(key)
			if err != nil {
				t.Fatal(err)
			}
			keys = newBeaconKeys(r)
		}
		late, err := encodeBeacon(state.Beacon{Instance: b.s.ID(), Cluster: cluster, Addr: bAddr, Version: 1,
			WallMs: time.Now().UnixMilli(), Epoch: 1 << 62, Counter: 1}, keys)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("udp4", "127.0.0.1:"+discPort)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(late); err != nil {
			t.Fatal(err)
		}
		until(t, "a to drop the late beacon or take b back", func() bool { return known() || afterLeave > before })
		if known() {
			t.Fatal("the late beacon brought b back")
		}
		if m := httpGet(t, a, "/metrics"); !strings.Contains(m, `nexusd_beacons_dropped_total{reason="after_leave"} `+strconv.FormatUint(afterLeave, 10)) {
			t.Fatalf("metrics lack after_leave %d", afterLeave)
		}
	})
}

func withAndWithoutAKey(t *testing.T, test func(t *testing.T, key string)) {
	t.Run("without a key", func(t *testing.T) { test(t, "") })
	t.Run("with a key", func(t *testing.T) { test(t, keyFile(t)) })
}
