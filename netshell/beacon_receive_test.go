package netshell

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/benbjohnson/clock"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/keyring"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/state"
)

// receivingDiscovery is the receive path of a daemon of cluster "c" with
// ring (nil: no key), counting what it posts to the loop.
func receivingDiscovery(r *keyring.Ring) (*discovery, *int) {
	d := newDiscovery(&Options{SeedResolveInterval: 1}, state.Beacon{Cluster: "c"}, &credentials{ring: r}, nil, clock.NewMock(), &shellCounters{})
	posted := new(int)
	d.post = func(state.Event) { *posted++ }
	return d, posted
}

// beaconOfSize is an unsigned beacon of cluster "c" naming src, padded
// through its instance id to exactly size bytes.
func beaconOfSize(t *testing.T, size int) []byte {
	t.Helper()
	for n := 0; n < size; n++ {
		data := mustMarshal(&discoverypb.Beacon{InstanceUuid: strings.Repeat("x", n), ClusterId: "c",
			RpcIp: beaconSrc.String(), RpcPort: 5671, ProtocolVersion: 1})
		if len(data) == size {
			return data
		}
	}
	t.Fatalf("no beacon of %d bytes", size)
	return nil
}

// A datagram of exactly maxBeaconBytes (1400, docs/protocol.md §2.1) is
// still a beacon and reaches the loop; one byte more is dropped as
// too_large.
func TestABeaconOf1400BytesIsTakenAndOneOf1401IsTooLarge(t *testing.T) {
	d, posted := receivingDiscovery(nil)
	from := net.UDPAddrFromAddrPort(netip.AddrPortFrom(beaconSrc, 5670))
	if reason := d.datagram(beaconOfSize(t, 1400), from); reason != "" || *posted != 1 {
		t.Fatalf("a 1400-byte beacon: dropped %q, posted %d; want it taken", reason, *posted)
	}
	if reason := d.datagram(beaconOfSize(t, 1401), from); reason != dropTooLarge {
		t.Fatalf("a 1401-byte beacon: dropped %q, want %q", reason, dropTooLarge)
	}
}

// Every datagram read is counted, those dropped as well as those taken.
func TestEveryDatagramIsCountedTakenOrDropped(t *testing.T) {
	d, _ := receivingDiscovery(nil)
	from := net.UDPAddrFromAddrPort(netip.AddrPortFrom(beaconSrc, 5670))
	d.datagram(beaconOfSize(t, 1401), from)
	d.datagram([]byte{0xff, 0xff, 0xff}, from)
	d.datagram(beaconOfSize(t, 100), from)
	if n := d.counters.datagramsIn.Load(); n != 3 {
		t.Fatalf("counted %d datagrams in, want 3", n)
	}
}

// With a cluster key, a member's valid beacons (or replays of them) from
// one address are limited too, once they have proved the key: past the
// burst they are dropped as rate_limited and never reach the loop.
func TestAMembersValidBeaconsPastTheBurstAreRateLimited(t *testing.T) {
	r := ring(t, keyring.New())
	d, posted := receivingDiscovery(r)
	from := net.UDPAddrFromAddrPort(netip.AddrPortFrom(beaconSrc, 5670))
	good := sealedBeacon(t, newBeaconKeys(r), 1)
	for range 2 * sourceBeaconBurst {
		d.datagram(good, from)
	}
	if n := d.counters.beaconDropped(dropRateLimited); *posted != sourceBeaconBurst || n != sourceBeaconBurst {
		t.Fatalf("%d valid beacons from one address: posted %d, rate limited %d; want %d each", 2*sourceBeaconBurst, *posted, n, sourceBeaconBurst)
	}
}

// rpc_port is 1 to 65535: 65535 is taken, 65536 (which would wrap to port
// 0) is dropped as invalid_address.
func TestRpcPortAbove65535IsAnInvalidAddress(t *testing.T) {
	for port, want := range map[int32]string{65535: "", 65536: dropBadAddress, 1 << 20: dropBadAddress} {
		data := mustMarshal(&discoverypb.Beacon{InstanceUuid: "x", ClusterId: "c", RpcIp: beaconSrc.String(), RpcPort: port, ProtocolVersion: 1})
		got, reason := decodeBeacon(data, beaconSrc, "c", nil)
		if reason != want {
			t.Errorf("rpc_port %d: dropped %q (%s), want %q", port, reason, got.Addr, want)
		}
	}
}

// A beacon that names no address and came from 0.0.0.0 has no address to
// reach its sender at: it is dropped as invalid_address, never taken as a
// peer at 0.0.0.0. So is a signed one naming 0.0.0.0.
func TestABeaconWithNoAddressButTheUnspecifiedOneIsInvalid(t *testing.T) {
	zero := netip.IPv4Unspecified()
	plain := mustMarshal(&discoverypb.Beacon{InstanceUuid: "x", ClusterId: "c", RpcPort: 5671, ProtocolVersion: 1})
	if got, reason := decodeBeacon(plain, zero, "c", nil); reason != dropBadAddress {
		t.Errorf("unsigned, no rpc_ip, from 0.0.0.0: dropped %q (%s), want %q", reason, got.Addr, dropBadAddress)
	}
	keys := newBeaconKeys(ring(t, keyring.New()))
	signed, err := encodeBeacon(state.Beacon{Instance: "x", Cluster: "c", Addr: "0.0.0.0:5671", Version: 1, Epoch: 1, Counter: 1}, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got, reason := decodeBeacon(signed, zero, "c", keys); reason != dropBadAddress {
		t.Errorf("signed, rpc_ip 0.0.0.0, from 0.0.0.0: dropped %q (%s), want %q", reason, got.Addr, dropBadAddress)
	}
}

// A beacon carries its advertised address as rpc_ip: a signed one is
// reached there whatever address it came from (behind NAT, or sent from
// the route's address), and an unsigned one from another address is
// dropped as address_mismatch.
func TestABeaconCarriesItsAdvertisedAddress(t *testing.T) {
	b := state.Beacon{Instance: "n1", Cluster: "c", Addr: "10.1.2.3:5671", Version: 1, Epoch: 1, Counter: 1}
	plain, err := encodeBeacon(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pb discoverypb.Beacon
	if err := proto.Unmarshal(plain, &pb); err != nil || pb.GetRpcIp() != "10.1.2.3" || pb.GetRpcPort() != 5671 {
		t.Fatalf("on the wire: rpc_ip %q, rpc_port %d (%v); want 10.1.2.3, 5671", pb.GetRpcIp(), pb.GetRpcPort(), err)
	}
	if got, reason := decodeBeacon(plain, beaconSrc, "c", nil); reason != dropAddressMismatch {
		t.Errorf("unsigned beacon naming 10.1.2.3 from %s: dropped %q (%s), want %q", beaconSrc, reason, got.Addr, dropAddressMismatch)
	}
	keys := newBeaconKeys(ring(t, keyring.New()))
	signed, err := encodeBeacon(b, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got, reason := decodeBeacon(signed, beaconSrc, "c", keys); reason != "" || got.Addr != "10.1.2.3:5671" {
		t.Errorf("signed beacon naming 10.1.2.3 from %s: dropped %q, peer at %q; want taken at 10.1.2.3:5671", beaconSrc, reason, got.Addr)
	}
}
