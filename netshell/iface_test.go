package netshell

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/net/ipv4"

	"github.com/nexusd/nexusd/internal/mcastsock"
	"github.com/nexusd/nexusd/state"
)

// envNetns names the test a re-executed test binary runs inside its own
// network namespace.
const envNetns = "NEXUSD_NETSHELL_NETNS"

// inOwnNetns runs the calling test again in a private network namespace
// (unshare -n, as root), with the interfaces that the ip commands in setup
// make, and reports whether this is that run: the caller does its checks
// only then. Nothing the test does reaches the host's network.
func inOwnNetns(t *testing.T, setup ...string) bool {
	t.Helper()
	if os.Getenv(envNetns) == t.Name() {
		for _, cmd := range setup {
			if out, err := exec.Command("ip", strings.Fields(cmd)...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v: %s", cmd, err, out)
			}
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	if out, err := exec.Command("unshare", "--net", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace: %v: %s", err, out)
	}
	cmd := exec.Command("unshare", "--net", "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envNetns+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("in its own network namespace: %v\n%s", err, out)
	}
	return false
}

// The multicast interface chosen by default is never loopback, even a
// multicast-capable one; one named must be up; and the address advertised
// from it is its first address that is not link-local.
func TestTheMulticastInterfaceIsNotLoopbackIsUpAndAdvertisesItsRoutableAddress(t *testing.T) {
	if !inOwnNetns(t,
		"link set lo up", "link set lo multicast on",
		"link add down0 type veth peer name down0p", "link set down0 multicast on",
		"link add d1 type veth peer name d1p", "link set d1 multicast on",
		"addr add 169.254.7.7/16 dev d1", "addr add 10.7.0.1/24 dev d1") {
		return
	}
	if ifi, err := multicastInterface(""); err == nil {
		t.Fatalf("with only loopback up and multicast-capable, chose %s", ifi.Name)
	}
	if _, err := multicastInterface("down0"); err == nil || !strings.Contains(err.Error(), "is down") {
		t.Fatalf("--mcast-iface naming a down interface: %v, want an error saying it is down", err)
	}
	if out, err := exec.Command("ip", "link", "set", "d1", "up").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ifi, err := multicastInterface("")
	if err != nil || ifi.Name != "d1" {
		t.Fatalf("chose %v (%v), want d1, the one up, multicast-capable, not loopback", ifi, err)
	}
	if a := interfaceIPv4(ifi); a != netip.MustParseAddr("10.7.0.1") {
		t.Fatalf("d1's address %s, want 10.7.0.1, not its link-local 169.254.7.7", a)
	}
	if a := advertisedIP(&Options{Bind: "0.0.0.0"}, ifi); a != netip.MustParseAddr("10.7.0.1") {
		t.Fatalf("advertised %s, want d1's 10.7.0.1", a)
	}
}

// A beacon to the group leaves on the interface named (seen arriving at
// the far end of its link, d1p) with TTL 1, even when the address it is
// sent from belongs to another interface (e1, as on a host with two
// links), and a copy is looped back on the interface itself, so daemons on
// one host hear each other.
func TestBeaconsToTheGroupLeaveOnTheNamedInterfaceWithTTLOneAndLoopBack(t *testing.T) {
	if !inOwnNetns(t, "link set lo up",
		"link add d1 type veth peer name d1p", "addr add 10.7.0.1/24 dev d1", "link set d1 up", "link set d1p up",
		"link add e1 type veth peer name e1p", "addr add 10.8.0.1/24 dev e1", "link set e1 up", "link set e1p up") {
		return
	}
	// d1p takes datagrams from an address of this namespace (e1's).
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/d1p/accept_local", []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	d1, err := net.InterfaceByName("d1")
	if err != nil {
		t.Fatal(err)
	}
	d1p, err := net.InterfaceByName("d1p")
	if err != nil {
		t.Fatal(err)
	}
	group := net.IPv4(239, 255, 42, 1)
	lc := net.ListenConfig{Control: mcastsock.SharePort}
	lconn, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lconn.Close()
	listener := ipv4.NewPacketConn(lconn)
	for _, ifi := range []*net.Interface{d1, d1p} {
		if err := listener.JoinGroup(ifi, &net.UDPAddr{IP: group}); err != nil {
			t.Fatal(err)
		}
	}
	if err := listener.SetControlMessage(ipv4.FlagInterface|ipv4.FlagTTL, true); err != nil {
		t.Fatal(err)
	}

	o := &Options{McastAddr: group.String(), McastPort: lconn.LocalAddr().(*net.UDPAddr).Port, SeedResolveInterval: time.Second}
	self := state.Beacon{Instance: "x", Cluster: "c", Addr: "10.8.0.1:5671", Version: protocolVersion}
	d, err := openDiscovery(o, d1, self, &credentials{}, slog.New(slog.NewTextHandler(io.Discard, nil)), clock.NewMock(), &shellCounters{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.conn.Close()
	d.sendBeacon(1, false)

	arrived := map[int]int{} // ifindex: TTL
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(5 * time.Second); len(arrived) < 2; {
		lconn.SetReadDeadline(deadline)
		_, cm, _, err := listener.ReadFrom(buf)
		if err != nil {
			t.Fatalf("the beacon arrived on %v (ifindex: TTL), want on d1p (%d, from the wire) and d1 (%d, looped back): %v", arrived, d1p.Index, d1.Index, err)
		}
		if cm != nil {
			arrived[cm.IfIndex] = cm.TTL
		}
	}
	if ttl, ok := arrived[d1p.Index]; !ok || ttl != 1 {
		t.Fatalf("the beacon arrived on %v (ifindex: TTL), want on d1p (%d) with TTL 1", arrived, d1p.Index)
	}
	if _, ok := arrived[d1.Index]; !ok {
		t.Fatalf("the beacon arrived on %v (ifindex: TTL), want a copy looped back on d1 (%d)", arrived, d1.Index)
	}
}

// The advertised address is --advertise-addr when given, even with a
// specific --bind; else a specific --bind.
func TestTheAdvertisedAddressIsAdvertiseAddrElseASpecificBind(t *testing.T) {
	if a := advertisedIP(&Options{AdvertiseAddr: "192.0.2.1", Bind: "127.0.0.5"}, nil); a != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("--advertise-addr 192.0.2.1 --bind 127.0.0.5: advertised %s, want 192.0.2.1", a)
	}
	if a := advertisedIP(&Options{Bind: "127.0.0.5"}, nil); a != netip.MustParseAddr("127.0.0.5") {
		t.Errorf("--bind 127.0.0.5: advertised %s, want 127.0.0.5", a)
	}
}
