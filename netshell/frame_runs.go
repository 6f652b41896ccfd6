package netshell

import (
	"unsafe"

	"github.com/nexusd/nexusd/state"
)

// Runs of records sent on as they came. A run of live messages
// (state.Deliver.More) is one topic, one source and one timestamp, each
// message's sequence and number one above the one's before it: to a
// subscriber's frame, each record after the first is a plain one, its
// length, no flags, its topic's index and its payload. When the run's
// messages were published as plain records, one after another, in a
// packed frame the node kept (state.Message.Frame), that frame holds
// those records byte for byte as the subscriber's frame would encode
// them, if the topic's index is the same in both: the encoder takes them
// in one copy (packed.Encoder.AppendPlainRun, which checks every record's
// bytes and that the span holds exactly the run's records) instead of
// one Append each.

// viewedFrame is a received frame the node may view (state.Message.Frame):
// a PublishPacked or a PushPacked frame.
type viewedFrame interface{ packedBytes() []byte }

func (f *heldFrame) packedBytes() []byte { return f.Msg().GetFrame() }
func (p *heldPush) packedBytes() []byte  { return p.frame.Msg().GetFrame() }

// offsetIn is where p lies in frame, or -1 when it does not lie in it
// (nor does an empty p).
func offsetIn(frame, p []byte) int {
	if len(p) == 0 || len(p) > len(frame) {
		return -1
	}
	off := uintptr(unsafe.Pointer(unsafe.SliceData(p))) - uintptr(unsafe.Pointer(unsafe.SliceData(frame)))
	if off > uintptr(len(frame)-len(p)) { // before the frame wraps around too
		return -1
	}
	return int(off)
}

// plainRest appends to the frame being encoded, as they lay in the frame
// they came in, the messages of run after its message i, which the
// encoder appended last, as many as it can take that way, and returns
// how many it took (0: none, nothing appended).
func (fs *frameSender) plainRest(run state.Run, i int) int {
	prev, last := run.At(i), run.At(run.Len()-1)
	f, ok := prev.Frame().(viewedFrame)
	if !ok {
		return 0
	}
	frame := f.packedBytes()
	a, b := offsetIn(frame, prev.Payload), offsetIn(frame, last.Payload)
	if a < 0 || b < 0 {
		return 0
	}
	from, to := a+len(prev.Payload), b+len(last.Payload)
	if to <= from {
		return 0
	}
	took, _ := fs.enc.AppendPlainRun(frame[from:to], run.Len()-1-i)
	return took
}
