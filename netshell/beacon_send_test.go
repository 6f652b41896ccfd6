package netshell

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/state"
)

// sendWall is the mock wall clock of the sending tests: not the zero time,
// so a beacon without its timestamp shows.
var sendWall = time.UnixMilli(1_700_000_000_123)

// seedListener is a UDP socket on 127.0.0.1 that plays a seed.
func seedListener(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendingDiscovery opens the discovery socket as the daemon does, with
// multicast off and advertising addr, and gives it the seeds.
func sendingDiscovery(t *testing.T, addr string, seeds ...*net.UDPAddr) *discovery {
	t.Helper()
	clk := clock.NewMock()
	clk.Set(sendWall)
	o := &Options{McastPort: 0, SeedResolveInterval: time.Second}
	self := state.Beacon{Instance: "sender", Cluster: "c", Addr: addr, Version: protocolVersion}
	d, err := openDiscovery(o, nil, self, &credentials{}, slog.New(slog.NewTextHandler(io.Discard, nil)), clk, &shellCounters{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.conn.Close() })
	d.seeds.Store(&seeds)
	return d
}

// readBeacon reads one datagram from the seed, failing after a deadline.
func readBeacon(t *testing.T, c *net.UDPConn) (*discoverypb.Beacon, netip.Addr) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no beacon reached the seed: %v", err)
	}
	var b discoverypb.Beacon
	if err := proto.Unmarshal(buf[:n], &b); err != nil {
		t.Fatalf("the seed got no beacon: %v", err)
	}
	return &b, from.Addr().Unmap()
}

// A beacon sent to a seed leaves from the advertised address (here
// 127.0.0.9, not the 127.0.0.1 the route gives), carries the sender's
// wall clock, and is numbered 1, 2, ... within its boot epoch; each is
// counted as sent.
func TestBeaconsToASeedLeaveFromTheAdvertisedAddressNumberedAndTimed(t *testing.T) {
	seed := seedListener(t)
	d := sendingDiscovery(t, "127.0.0.9:5671", seed.LocalAddr().(*net.UDPAddr))
	for i := uint64(1); i <= 2; i++ {
		d.sendBeacon(0xfeed, false)
		b, from := readBeacon(t, seed)
		if from != netip.MustParseAddr("127.0.0.9") {
			t.Fatalf("beacon %d came from %s, want the advertised 127.0.0.9", i, from)
		}
		if b.GetCounter() != i || b.GetBootEpoch() != uint64(sendWall.UnixMilli()) || b.GetTimestampMs() != sendWall.UnixMilli() {
			t.Fatalf("beacon %d: counter %d, epoch %d, timestamp %d; want counter %d, epoch and timestamp %d",
				i, b.GetCounter(), b.GetBootEpoch(), b.GetTimestampMs(), i, sendWall.UnixMilli())
		}
		if b.GetRpcIp() != "127.0.0.9" || b.GetRpcPort() != 5671 || b.GetLeaving() {
			t.Fatalf("beacon %d names %s:%d (leaving %v), want 127.0.0.9:5671, not leaving", i, b.GetRpcIp(), b.GetRpcPort(), b.GetLeaving())
		}
	}
	if out, errs := d.counters.beaconsOut.Load(), d.counters.beaconSendErrors.Load(); out != 2 || errs != 0 {
		t.Fatalf("counted %d beacons sent and %d errors, want 2 and 0", out, errs)
	}
}

// When the kernel will not send from the advertised address (192.0.2.1 is
// no address of this host, as behind NAT), the beacon still goes out,
// from the route's address, once, and is counted as sent.
func TestABeaconTheKernelWillNotSendFromTheAdvertisedAddressLeavesFromTheRoutes(t *testing.T) {
	seed := seedListener(t)
	d := sendingDiscovery(t, "192.0.2.1:5671", seed.LocalAddr().(*net.UDPAddr))
	d.sendBeacon(1, false)
	b, from := readBeacon(t, seed)
	if from != netip.MustParseAddr("127.0.0.1") || b.GetRpcIp() != "192.0.2.1" {
		t.Fatalf("beacon naming %s came from %s, want one naming 192.0.2.1 from 127.0.0.1", b.GetRpcIp(), from)
	}
	if out, errs := d.counters.beaconsOut.Load(), d.counters.beaconSendErrors.Load(); out != 1 || errs != 0 {
		t.Fatalf("counted %d beacons sent and %d errors, want 1 and 0", out, errs)
	}
}

// A beacon that cannot be sent at all (UDP port 0 is refused by the
// kernel before anything leaves) is counted as a send error, not as sent,
// and the beacon still reaches the other seeds.
func TestABeaconThatCannotBeSentIsCountedAsASendError(t *testing.T) {
	seed := seedListener(t)
	d := sendingDiscovery(t, "127.0.0.1:5671", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0}, seed.LocalAddr().(*net.UDPAddr))
	d.sendBeacon(1, false)
	readBeacon(t, seed)
	if out, errs := d.counters.beaconsOut.Load(), d.counters.beaconSendErrors.Load(); out != 1 || errs != 1 {
		t.Fatalf("counted %d beacons sent and %d send errors, want 1 and 1", out, errs)
	}
}

// A stopping daemon sends its leave beacon leaveBeacons (3) times, each
// marked leaving and numbered as the next beacon, before Left is closed.
func TestTheLeaveBeaconIsSentThreeTimesEachWithTheNextCounter(t *testing.T) {
	seed := seedListener(t)
	d := sendingDiscovery(t, "127.0.0.1:5671", seed.LocalAddr().(*net.UDPAddr))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.send(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	d.Leave(0xbeef)
	select {
	case <-d.Left():
	case <-time.After(10 * time.Second):
		t.Fatal("Left not closed")
	}
	for i := uint64(1); i <= 3; i++ {
		b, _ := readBeacon(t, seed)
		if !b.GetLeaving() || b.GetCounter() != i || b.GetTopicStateHash() != 0xbeef {
			t.Fatalf("leave beacon %d: leaving %v, counter %d, hash %x; want leaving, counter %d, hash beef", i, b.GetLeaving(), b.GetCounter(), b.GetTopicStateHash(), i)
		}
	}
	if out := d.counters.beaconsOut.Load(); out != 3 {
		t.Fatalf("counted %d leave beacons sent, want 3", out)
	}
}
