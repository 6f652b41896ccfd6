package netshell

import (
	"net"
	"net/netip"
	"testing"

	"github.com/benbjohnson/clock"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/keyring"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/state"
)

func ring(t testing.TB, keys ...string) *keyring.Ring {
	t.Helper()
	text := ""
	for _, k := range keys {
		text += k + "\n"
	}
	r, err := keyring.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var beaconSrc = netip.MustParseAddr("192.0.2.7")

func sealedBeacon(t testing.TB, keys *beaconKeys, hash uint64) []byte {
	t.Helper()
	b := state.Beacon{Instance: "n1", Cluster: "c", Addr: "10.1.2.3:5671", Hash: hash, Version: 1, WallMs: 1234, Epoch: 77, Counter: 5}
	data, err := encodeBeacon(b, keys)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A member's beacon reaches a member whole, marked as a member's, with its
// pair; the hash others see on the wire is not the hash.
func TestSignedBeaconIsTakenByAMemberAndHidesItsHash(t *testing.T) {
	k1, k2 := keyring.New(), keyring.New()
	data := sealedBeacon(t, newBeaconKeys(ring(t, k1)), 0xfeed)
	got, reason := decodeBeacon(data, beaconSrc, "c", newBeaconKeys(ring(t, k2, k1))) // k1 is an older key there
	if reason != "" || !got.Member || got.Hash != 0xfeed || got.Epoch != 77 || got.Counter != 5 {
		t.Fatalf("decoded %+v (%q), want the member's beacon with hash feed and pair 77/5", got, reason)
	}
	var pb discoverypb.Beacon
	if err := proto.Unmarshal(data, &pb); err != nil || pb.TopicStateHash == 0xfeed || len(pb.AuthTag) != 32 {
		t.Fatalf("on the wire: hash %x, tag %d bytes: the hash must be masked and the tag 32 bytes", pb.TopicStateHash, len(pb.AuthTag))
	}
}

func TestBeaconsThatFailTheKeyAreDroppedByReason(t *testing.T) {
	k1, k2 := keyring.New(), keyring.New()
	mine := newBeaconKeys(ring(t, k1))
	good := sealedBeacon(t, mine, 1)
	plain, _ := encodeBeacon(state.Beacon{Instance: "n1", Cluster: "c", Addr: "10.1.2.3:5671", Version: 1}, nil)
	flipped := append([]byte(nil), good...)
	flipped[3] ^= 1 // inside the instance id
	var pb discoverypb.Beacon
	proto.Unmarshal(good, &pb)
	pb.RpcIp = "10.9.9.9" // moved, tag kept
	moved, _ := proto.Marshal(&pb)
	twoTags := protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), good...), beaconTagField, protowire.BytesType), pb.AuthTag)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"no tag", plain, dropUnauthenticated},
		{"another cluster's key", sealedBeacon(t, newBeaconKeys(ring(t, k2)), 1), dropUnknownKey},
		{"a flipped bit", flipped, dropBadTag},
		{"a field changed", moved, dropBadTag},
		{"two tags", twoTags, dropBadTag},
	} {
		if got, reason := decodeBeacon(c.data, beaconSrc, "c", mine); reason != c.want {
			t.Errorf("%s: dropped %q (%+v), want %q", c.name, reason, got, c.want)
		}
	}
}

// The receive path drops what fails the key before the loop hears of it,
// and counts it.
func TestDiscoveryDropsForgedBeaconsBeforeTheLoop(t *testing.T) {
	key := keyring.New()
	r := ring(t, key)
	d := newDiscovery(&Options{SeedResolveInterval: 1}, state.Beacon{Cluster: "c"}, &credentials{ring: r}, nil, clock.NewMock(), &shellCounters{})
	posted := 0
	d.post = func(state.Event) { posted++ }
	from := net.UDPAddrFromAddrPort(netip.AddrPortFrom(beaconSrc, 5670))
	forged := sealedBeacon(t, newBeaconKeys(ring(t, keyring.New())), 1)
	for range 3 {
		d.datagram(forged, from)
	}
	if posted != 0 || d.counters.beaconDropped(dropUnknownKey) != 3 {
		t.Fatalf("posted %d, counted %d: forged beacons must stop at the shell, counted", posted, d.counters.beaconDropped(dropUnknownKey))
	}
	if reason := d.datagram(sealedBeacon(t, newBeaconKeys(r), 1), from); reason != "" || posted != 1 {
		t.Fatalf("a member's beacon: dropped %q, posted %d", reason, posted)
	}
}

// With a key, forged beacons do not spend their source address's budget:
// a flood from a member's own address (spoofed, or a shared host or NAT)
// leaves the member's real beacons through. Without a key, the budget is
// all there is.
func TestForgedFloodFromAMembersAddressLeavesItsBeaconsThrough(t *testing.T) {
	key := keyring.New()
	r := ring(t, key)
	from := net.UDPAddrFromAddrPort(netip.AddrPortFrom(beaconSrc, 5670))
	forged := sealedBeacon(t, newBeaconKeys(ring(t, keyring.New())), 1)
	d := newDiscovery(&Options{SeedResolveInterval: 1}, state.Beacon{Cluster: "c"}, &credentials{ring: r}, nil, clock.NewMock(), &shellCounters{})
	posted := 0
	d.post = func(state.Event) { posted++ }
	for range 10 * sourceBeaconBurst {
		d.datagram(forged, from)
	}
	if reason := d.datagram(sealedBeacon(t, newBeaconKeys(r), 1), from); reason != "" || posted != 1 {
		t.Fatalf("the member's beacon after a forged flood from its address: dropped %q, posted %d", reason, posted)
	}
	if n := d.counters.beaconDropped(dropRateLimited); n != 0 {
		t.Fatalf("%d forged beacons counted as rate limited, want each counted by what it failed", n)
	}

	unkeyed := newDiscovery(&Options{SeedResolveInterval: 1}, state.Beacon{Cluster: "c"}, &credentials{}, nil, clock.NewMock(), &shellCounters{})
	unkeyed.post = func(state.Event) {}
	for range 10 * sourceBeaconBurst {
		unkeyed.datagram(sealedBeacon(t, nil, 1), from)
	}
	if n := unkeyed.counters.beaconDropped(dropRateLimited); n != 9*sourceBeaconBurst {
		t.Fatalf("without a key, %d of %d datagrams from one address were rate limited, want %d", n, 10*sourceBeaconBurst, 9*sourceBeaconBurst)
	}
}

func BenchmarkForgedBeaconDrop(b *testing.B) {
	mine := newBeaconKeys(ring(b, keyring.New()))
	forged := sealedBeacon(b, newBeaconKeys(ring(b, keyring.New())), 1)
	forged[len(forged)-40] ^= 1
	b.ReportAllocs()
	for b.Loop() {
		decodeBeacon(forged, beaconSrc, "c", mine)
	}
}
