package netshell

import (
	"os"
	"testing"
)

// TestMain poisons the shell's buffer pool for every test: a buffer gRPC
// received a frame in reads as 0xdd once given back, so a frame whose
// records are read after its release (a payload the node was to copy
// while the frame was still held) fails the test that sent it.
func TestMain(m *testing.M) {
	buffers.Poison = true
	os.Exit(m.Run())
}
