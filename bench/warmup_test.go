package main

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// A warm-up payload is told apart from every payload a run measures: the
// zeros of a throughput run, and a latency run's send time.
func TestWarmUpPayloadsAreToldApart(t *testing.T) {
	if !isWarmUp(bytes.Repeat([]byte{0xff}, payloadSize)) {
		t.Error("the warm-up payload is not recognised")
	}
	timed := make([]byte, payloadSize)
	binary.LittleEndian.PutUint64(timed, uint64(1<<62-1)) // a send time far past the start, high bytes set
	for _, p := range [][]byte{make([]byte, payloadSize), timed, {0xff}, nil} {
		if isWarmUp(p) {
			t.Errorf("payload %x… taken for a warm-up", p[:min(len(p), 8)])
		}
	}
}
