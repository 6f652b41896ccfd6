package client

import (
	"reflect"
	"testing"

	"google.golang.org/grpc/encoding"
)

// The test names the codec by its package path rather than importing it,
// so it fails if the client stops importing internal/vtcodec.
func TestTheClientEncodesWithTheVTProtobufCodec(t *testing.T) {
	const want = "github.com/nexusd/nexusd/internal/vtcodec"
	c := encoding.GetCodecV2("proto")
	if c == nil || reflect.TypeOf(c).PkgPath() != want {
		t.Fatalf(`gRPC's "proto" codec is %T, want %s.Codec: client/codec.go must import it`, c, want)
	}
}
