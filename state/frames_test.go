package state

import (
	"testing"
	"unsafe"
)

// inFrame reports whether p lies in frame f's bytes: kept where it was,
// not copied.
func inFrame(f *testFrame, p []byte) bool {
	if len(p) == 0 || len(f.b) == 0 {
		return false
	}
	start, end := uintptr(unsafe.Pointer(&f.b[0])), uintptr(unsafe.Pointer(&f.b[len(f.b)-1]))
	at := uintptr(unsafe.Pointer(&p[0]))
	return at >= start && at <= end
}

// A run's payloads in counted slabs stay in the frame they were lent in,
// and the frame goes back for reuse, once, when the last of them has left
// the ring and been reported sent.
func TestALentFrameGoesBackOnceItsMessagesAreSent(t *testing.T) {
	h := newHarness(t, "frames", func(c *Config) { c.MessageBufferSize = 32; c.PoisonReused = true })
	h.lend = true
	h.start()
	h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: true})
	var frame *testFrame
	effs := h.runBatchFrame("r/t", 64, &frame)
	first := handed(effs, 1)
	if len(first) != 64 || h.released != 0 {
		t.Fatalf("%d handed out, %d frames given back: want 64, none", len(first), h.released)
	}
	for _, m := range first {
		if !inFrame(frame, m.Payload) {
			t.Fatalf("message #%d's payload was copied out of its frame", m.SourceSeq)
		}
	}
	if got := h.n.counters.FramesViewed; got != 1 {
		t.Fatalf("FramesViewed = %d, want 1", got)
	}
	h.runBatch("r/t", 64) // the ring lets the first 64 go; the stream has not sent them
	if frame.released {
		t.Fatal("a frame went back while a stream had its messages unsent")
	}
	h.step(&CreditGranted{Stream: 1, N: 65, Sent: 65})
	if !frame.released || h.recycled != 1 {
		t.Fatalf("frame given back %t, %d recycled: want true, 1", frame.released, h.recycled)
	}
}

// What a stream was handed when it ended unreported, or is handed by a
// stream that never reports, may still be written out by its shell: the
// frame goes to the collector, never back for reuse, and the node no
// longer counts it among the frames it views.
func TestAFrameReadWhereHoldsAreNotCountedIsLeftToTheCollector(t *testing.T) {
	for _, c := range []struct {
		name    string
		reports bool
	}{{"stream that does not report", false}, {"stream ended before it sent them", true}} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, "frames", func(c *Config) { c.MessageBufferSize = 32; c.PoisonReused = true })
			h.lend = true
			h.start()
			h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: c.reports,
				ResumeWindow: 60_000_000_000})
			var frame *testFrame
			first := handed(h.runBatchFrame("r/t", 64, &frame), 1)
			if c.reports {
				h.step(&StreamClosed{Stream: 1})
			}
			var second *testFrame
			h.runBatchFrame("r/t", 64, &second) // the ring lets the first go
			if !frame.released || h.recycled != 0 {
				t.Fatalf("frame given back %t, %d recycled: want true, 0", frame.released, h.recycled)
			}
			for _, m := range first {
				checkSent(t, m)
			}
			if h.n.viewedBytes != len(second.b) {
				t.Fatalf("%d bytes of frames viewed after the first went to the collector, want the second's %d", h.n.viewedBytes, len(second.b))
			}
		})
	}
}

// A batch too short for a counted slab, or a frame beyond the share of
// the budget frames may take, is copied and given back in its own Step.
func TestAFrameNotViewedGoesBackAtOnce(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
		pad  int
	}{{"short batch", 20, 0}, {"over the budget's share", 64, 128 << 20}} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, "frames", func(cfg *Config) { cfg.MessageBufferSize = 32; cfg.PoisonReused = true })
			h.lend = true
			h.start()
			h.framePad = c.pad // the default budget is 512 MiB
			h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: true})
			var frame *testFrame
			got := handed(h.runBatchFrame("r/t", c.n, &frame), 1)
			if !frame.released || h.recycled != 1 {
				t.Fatalf("frame given back %t, %d recycled: want true, 1", frame.released, h.recycled)
			}
			if len(got) == 0 {
				t.Fatal("nothing handed out")
			}
			for _, m := range got {
				checkSent(t, m) // copied before the frame was scribbled over
			}
			if h.n.viewedBytes != 0 || h.n.counters.FramesViewed != 0 {
				t.Fatalf("%d bytes viewed, %d frames: want none", h.n.viewedBytes, h.n.counters.FramesViewed)
			}
		})
	}
}
