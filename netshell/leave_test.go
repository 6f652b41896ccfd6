package netshell

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/state"
)

// A daemon that shuts down sends its leave beacon before it closes its
// sockets, and a peer that hears it drops it at once: with a peer timeout
// of a minute, only the leave can remove it within the wait. With a
// cluster key the leave is signed and checked like any beacon.
func TestAStoppingDaemonIsDroppedByItsPeerAtOnce(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		name := "without a key"
		if keyed {
			name = "with a key"
		}
		t.Run(name, func(t *testing.T) {
			key := ""
			if keyed {
				key = keyFile(t)
			}
			a := startServer(t, func(o *Options) {
				o.ClusterKeyFile = key
				o.SuspectAfter, o.PeerTimeout = 30*time.Second, time.Minute
			})
			_, discPort, _ := net.SplitHostPort(a.s.Addrs().Discovery)
			b := startServer(t, func(o *Options) {
				o.ClusterKeyFile = key
				o.Peers = []string{"127.0.0.1:" + discPort} // b beacons to a
				o.BeaconInterval = 20 * time.Millisecond
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
}
