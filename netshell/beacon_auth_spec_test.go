package netshell

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/keyring"
	"github.com/nexusd/nexusd/proto/discoverypb"
)

// The beacon signing of proto/discovery.proto, written here from its
// words rather than from beacon_auth.go: the tag is HMAC-SHA256 under the
// "beacon tag" secret over the encoding without field 8 (the bytes before
// it and the bytes after it, in order); the hash is XOR-ed with the first
// 8 bytes, big-endian, of HMAC-SHA256 under the "beacon hash mask" secret
// of instance_uuid, boot_epoch and counter.

func specHashMask(k keyring.Key, instance string, epoch, counter uint64) uint64 {
	m := hmac.New(sha256.New, k.MACKey("beacon hash mask"))
	m.Write([]byte(instance))
	binary.Write(m, binary.BigEndian, epoch)
	binary.Write(m, binary.BigEndian, counter)
	return binary.BigEndian.Uint64(m.Sum(nil))
}

// specFields is b's encoding, keyed and masked under k, without a tag.
func specFields(t *testing.T, b *discoverypb.Beacon, k keyring.Key) []byte {
	t.Helper()
	c := proto.Clone(b).(*discoverypb.Beacon)
	c.KeyId = k.ID
	c.TopicStateHash ^= specHashMask(k, c.GetInstanceUuid(), c.GetBootEpoch(), c.GetCounter())
	data, err := proto.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func appendTag(data, tag []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(data, beaconTagField, protowire.BytesType), tag)
}

func specBeacon() *discoverypb.Beacon {
	return &discoverypb.Beacon{InstanceUuid: "p1", ClusterId: "c", RpcIp: beaconSrc.String(), RpcPort: 5671,
		TopicStateHash: 0x1234_5678_9abc_def0, ProtocolVersion: 1, TimestampMs: 1, BootEpoch: 77, Counter: 5}
}

// A beacon signed as the proto says, with its tag last, is taken by a
// member, and the hash it carries is unmasked to the sender's: the mask
// covers instance_uuid, boot_epoch and counter.
func TestABeaconSignedAsTheProtoSaysIsTakenWithItsHash(t *testing.T) {
	r := ring(t, keyring.New())
	k := r.Primary()
	for _, counter := range []uint64{5, 6} {
		b := specBeacon()
		b.Counter = counter
		fields := specFields(t, b, k)
		tag := k.MAC("beacon tag", fields)
		got, reason := decodeBeacon(appendTag(fields, tag[:]), beaconSrc, "c", newBeaconKeys(r))
		if reason != "" || got.Hash != b.GetTopicStateHash() {
			t.Fatalf("counter %d: dropped %q, hash %x; want taken with hash %x", counter, reason, got.Hash, b.GetTopicStateHash())
		}
	}
}

// The tag covers the bytes before it and the bytes after it: a beacon
// whose tag field comes first (as an encoder is free to put it) is taken.
func TestATagBeforeTheOtherFieldsIsCheckedOverTheBytesAfterIt(t *testing.T) {
	r := ring(t, keyring.New())
	k := r.Primary()
	fields := specFields(t, specBeacon(), k)
	tag := k.MAC("beacon tag", fields)
	data := append(appendTag(nil, tag[:]), fields...)
	if got, reason := decodeBeacon(data, beaconSrc, "c", newBeaconKeys(r)); reason != "" || got.Instance != "p1" {
		t.Fatalf("tag first: dropped %q (%+v), want taken", reason, got)
	}
}

// A beacon with two auth_tag fields is no valid beacon, even when the last
// tag is right over everything else (one a member could make): it is
// dropped as bad_tag.
func TestABeaconWithTwoTagsIsDroppedEvenIfOneIsRight(t *testing.T) {
	r := ring(t, keyring.New())
	k := r.Primary()
	data := appendTag(specFields(t, specBeacon(), k), make([]byte, 32))
	tag := k.MAC("beacon tag", data)
	data = appendTag(data, tag[:])
	if got, reason := decodeBeacon(data, beaconSrc, "c", newBeaconKeys(r)); reason != dropBadTag {
		t.Fatalf("two tags: dropped %q (%+v), want %q", reason, got, dropBadTag)
	}
}
