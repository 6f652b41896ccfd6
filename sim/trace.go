package sim

import (
	"fmt"
	"time"

	"github.com/nexusd/nexusd/state"
)

// trace folds every event a node is handed and every effect it returns
// into one 64-bit hash. Two runs of one seed must end with the same hash;
// the first event where they differ is where determinism broke.
type trace struct {
	h      uint64
	events uint64
}

func (t *trace) mix(v uint64) {
	t.h ^= v
	t.h *= 0x100000001b3 // FNV-1a prime, over words
	t.h ^= t.h >> 29
}

func (t *trace) mixString(s string) {
	for i := 0; i < len(s); i++ {
		t.mix(uint64(s[i]))
	}
}

func (t *trace) tick(now time.Duration, node int) {
	t.events++
	t.mix(uint64(now))
	t.mix(uint64(node)<<8 | 1)
}

func (t *trace) event(now time.Duration, node int, ev state.Event) {
	t.events++
	t.mix(uint64(now))
	switch e := ev.(type) {
	case *state.BeaconReceived:
		t.mix(uint64(node)<<8 | 2)
		t.mix(e.Beacon.Hash)
		t.mix(uint64(len(e.Beacon.Instance)) ^ uint64(e.Beacon.Instance[0]))
	case *state.Published:
		t.mix(uint64(node)<<8 | 3)
		t.mixString(e.Topic)
	case *state.PushReceived:
		t.mix(uint64(node)<<8 | 4)
		for i := range e.Envs {
			t.mix(e.Envs[i].SourceSeq)
		}
	case *state.FetchCompleted:
		t.mix(uint64(node)<<8 | 5)
		t.mix(e.Call)
	case *state.PushCompleted:
		t.mix(uint64(node)<<8 | 6)
		t.mix(e.Call)
	case *state.PushesCompleted:
		t.mix(uint64(node)<<8 | 6)
		for _, c := range e.Calls {
			t.mix(c)
		}
	case *state.CreditGranted:
		t.mix(uint64(node)<<8 | 7)
		t.mix(e.Stream)
	case *state.StateRequested:
		t.mix(uint64(node)<<8 | 8)
	default:
		t.mix(uint64(node)<<8 | 9)
		t.mixString(ev.String())
	}
}

func (t *trace) effect(e state.Effect) {
	switch e := e.(type) {
	case *state.Deliver:
		t.mix(uint64(e.Stream)<<8 | 10)
		if e.Out.Msg != nil {
			t.mix(e.Out.Msg.Seq)
		}
		if e.More > 0 {
			t.mix(uint64(e.More))
		}
	case *state.Push:
		t.mix(e.Call<<8 | 11)
		t.mix(e.Msg.SourceSeq)
	case *state.SendBeacon:
		t.mix(e.Hash)
	case *state.FetchState:
		t.mix(e.Call<<8 | 12)
	case *state.CompletePublish:
		t.mix(e.Req<<8 | 13)
	case *state.ReleaseFrame:
		// The shell's memory, not the protocol: left out so a run's hash
		// is the same whether or not the node copies payloads.
	default:
		t.mix(14)
	}
}

// Hash is the trace hash so far.
func (w *World) TraceHash() uint64 { return w.trace.h }

// Stats count what happened in a world.
type Stats struct {
	Beacons, BeaconsLost                  uint64
	Pushes, Batches, Resends, Timeouts    uint64
	Lost, Duplicated, Reordered           uint64
	Published                             uint64
	InRuns                                uint64 // messages delivered in runs (state.Deliver.More)
	Crashes, Restarts, Partitions, Pauses uint64
	Leaves                                uint64
	Reconnects                            uint64
	ClockJumps                            uint64
}

// Stats returns the world's counts.
func (w *World) Stats() Stats { return w.stats }

// Events is how many events nodes have been handed.
func (w *World) Events() uint64 { return w.trace.events }

// fmtDur prints virtual time canonically: 1.5s, 250ms, 2m0s.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%gs", float64(d/time.Millisecond)/1000)
	}
	return fmt.Sprintf("%.6gs", d.Seconds())
}
