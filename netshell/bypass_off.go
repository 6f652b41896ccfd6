//go:build !nexusd_bypass

package netshell

import (
	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// bypassNode is false in the daemon: see bypass.go, built only with the
// nexusd_bypass tag, for what it measures.
const bypassNode = false

func bypassPublish(*packed.Decoder) bool         { return false }
func bypassUnary(*sidecarpb.PublishRequest) bool { return false }
func bypassServe(grpc.ServerStreamingServer[sidecarpb.PackedEvent]) (bool, error) {
	return false, nil
}
