package fuzz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/keyring"
	"github.com/nexusd/nexusd/netshell"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/state"
)

// fuzzKey is the cluster key of the keyed daemon; otherKey is another
// cluster's.
var fuzzKey, otherKey = keyring.New(), keyring.New()

// FuzzKeyedBeacon feeds arbitrary datagrams to a daemon started with a
// cluster key. It must not panic, its node stays consistent, and every
// datagram it takes is one signed with its key as proto/discovery.proto
// says (checked here by an implementation of that text, not the daemon's):
// nothing forged, altered or signed with another key gets in.
func FuzzKeyedBeacon(f *testing.F) {
	mine, other := parseKey(f, fuzzKey), parseKey(f, otherKey)
	b := &discoverypb.Beacon{InstanceUuid: "p1", ClusterId: "fuzz", RpcIp: "127.0.0.2", RpcPort: 5671, TopicStateHash: 7,
		ProtocolVersion: 1, TimestampMs: 1, BootEpoch: 1, Counter: 1}
	f.Add(signBeacon(f, b, mine))
	f.Add(signBeacon(f, b, other))
	f.Add(marshal(f, b))
	tampered := signBeacon(f, b, mine)
	tampered[len(tampered)-1] ^= 1
	f.Add(tampered)
	dir := f.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(fuzzKey+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	src := netip.MustParseAddrPort("127.0.0.2:5670")
	f.Fuzz(func(t *testing.T, data []byte) {
		o := netshell.DefaultOptions()
		o.Cluster, o.ClusterKeyFile = "fuzz", keyFile
		h, err := netshell.NewHarness(netshell.HarnessConfig{Options: o, ID: "self", Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		dropped := h.Datagram(data, src)
		if dropped == "" && !authentic(data, mine) {
			t.Fatalf("took a beacon that is not signed with the cluster key: %x", data)
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		var checkErr error
		if err := h.Query(ctx, func(n *state.Node) { checkErr = checkDaemonNode(n) }); err != nil {
			t.Fatal(err)
		}
		if checkErr != nil {
			t.Fatal(checkErr)
		}
	})
}

func parseKey(t testing.TB, line string) keyring.Key {
	t.Helper()
	r, err := keyring.Parse([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return r.Primary()
}

// signBeacon signs b with k as proto/discovery.proto describes.
func signBeacon(t testing.TB, b *discoverypb.Beacon, k keyring.Key) []byte {
	t.Helper()
	c := proto.Clone(b).(*discoverypb.Beacon)
	c.KeyId = k.ID
	c.TopicStateHash ^= hashMask(k, c.InstanceUuid, c.BootEpoch, c.Counter)
	data := marshal(t, c)
	tag := k.MAC("beacon tag", data)
	data = protowire.AppendTag(data, 8, protowire.BytesType)
	return protowire.AppendBytes(data, tag[:])
}

func hashMask(k keyring.Key, instance string, epoch, counter uint64) uint64 {
	m := hmac.New(sha256.New, k.MACKey("beacon hash mask"))
	m.Write([]byte(instance))
	binary.Write(m, binary.BigEndian, epoch)
	binary.Write(m, binary.BigEndian, counter)
	return binary.BigEndian.Uint64(m.Sum(nil))
}

// authentic reports whether data carries exactly one auth_tag, and it is
// k's tag over the rest, and names k.
func authentic(data []byte, k keyring.Key) bool {
	var rest []byte
	var tag []byte
	tags := 0
	for i := 0; i < len(data); {
		num, typ, n := protowire.ConsumeTag(data[i:])
		if n < 0 {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, data[i+n:])
		if m < 0 {
			return false
		}
		if num == 8 {
			tags++
			v, _ := protowire.ConsumeBytes(data[i+n : i+n+m])
			tag = v
		} else {
			rest = append(rest, data[i:i+n+m]...)
		}
		i += n + m
	}
	var b discoverypb.Beacon
	if tags != 1 || proto.Unmarshal(data, &b) != nil || b.KeyId != k.ID {
		return false
	}
	want := k.MAC("beacon tag", rest)
	return hmac.Equal(tag, want[:])
}

// The signing above, written from the .proto's words, is what the daemon
// takes: else FuzzKeyedBeacon's check would hold for nothing.
func TestABeaconSignedAsTheProtoSaysIsTaken(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(fuzzKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := netshell.DefaultOptions()
	o.Cluster, o.ClusterKeyFile = "fuzz", keyFile
	h, err := netshell.NewHarness(netshell.HarnessConfig{Options: o, ID: "self", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	b := &discoverypb.Beacon{InstanceUuid: "p1", ClusterId: "fuzz", RpcIp: "127.0.0.2", RpcPort: 5671, TopicStateHash: 7,
		ProtocolVersion: 1, TimestampMs: 1, BootEpoch: 1, Counter: 1}
	src := netip.MustParseAddrPort("127.0.0.2:5670")
	if dropped := h.Datagram(signBeacon(t, b, parseKey(t, fuzzKey)), src); dropped != "" {
		t.Fatalf("dropped (%s) a beacon signed as the proto says", dropped)
	}
	if dropped := h.Datagram(signBeacon(t, b, parseKey(t, otherKey)), src); dropped != "unknown_key" {
		t.Fatalf("another key's beacon: dropped %q, want unknown_key", dropped)
	}
}
