package e2e

import (
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/mcastsock"
	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/discoverypb"
)

// TestBeaconsLeaveWithTTLOne: multicast beacons never cross a router
// (docs/protocol.md §2.2: TTL 1). A listener on the group reads one of the
// daemon's beacons and the IP TTL it carried.
func TestBeaconsLeaveWithTTLOne(t *testing.T) {
	testnet.Require(t)
	cluster, port := newCluster(t)
	lc := net.ListenConfig{Control: mcastsock.SharePort}
	conn, err := lc.ListenPacket(t.Context(), "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	p := ipv4.NewPacketConn(conn)
	if err := p.JoinGroup(lo, &net.UDPAddr{IP: net.ParseIP("239.255.42.1")}); err != nil {
		t.Fatalf("join on lo: %v", err)
	}
	if err := p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst, true); err != nil {
		t.Fatal(err)
	}
	testnet.Start(t, testnet.Config{Name: "d", Cluster: cluster, McastPort: port})
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, cm, _, err := p.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no beacon from the daemon: %v", err)
		}
		var b discoverypb.Beacon
		if proto.Unmarshal(buf[:n], &b) != nil || b.GetClusterId() != cluster || cm == nil || !cm.Dst.IsMulticast() {
			continue // not the daemon's multicast beacon
		}
		if cm.TTL != 1 {
			t.Fatalf("beacon sent with TTL %d, want 1", cm.TTL)
		}
		return
	}
}
