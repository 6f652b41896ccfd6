package state

// Frames viewed in place.
//
// A PublishedBatch that comes with its Frame (a packed frame the shell
// keeps until told) has its payloads kept where they are by the messages
// a run makes in counted slabs (slab.go), instead of copied into the
// slab's buffer. Such a slab views the frame: the frame is given back
// (ReleaseFrame) once the batch's Step is over and every slab viewing it
// has let it go, which a slab does when its last hold ends. A slab freed
// for reuse lets go for recycling; a pinned one, read where holds are not
// counted, or one whose holds a stream or subscription abandoned (held
// for good), lets go for the collector, as its messages are. Messages
// made otherwise (a lone or retained publish, the run's tail short of a
// slab) copy their payloads as before.
//
// A frame stays whole while one message of it is held, so the node views
// at most maxViewedShare of its budget in frames at once; beyond that it
// copies, as without a Frame. Only the memory moves: what is charged to
// the budget, and every effect but ReleaseFrame, is as if copied.

// maxViewedShare: frames viewed at once hold at most 1/maxViewedShare of
// BudgetBytes.
const maxViewedShare = 4

// frameView is a shell's frame that counted slabs view.
type frameView struct {
	ref   any // PublishedBatch.Frame
	bytes int
	slabs int32 // slabs viewing it, and the batch's Step while under way
	keep  bool  // one that let go went to the collector: not to be recycled
}

// viewFrame begins a batch's view of its frame, or returns nil when the
// batch has none or the node views too much already.
func (n *Node) viewFrame(e *PublishedBatch) *frameView {
	if e.Frame == nil || !e.Borrowed || n.viewedBytes+e.FrameBytes > n.cfg.BudgetBytes/maxViewedShare {
		return nil
	}
	n.viewedBytes += e.FrameBytes
	return &frameView{ref: e.Frame, bytes: e.FrameBytes, slabs: 1}
}

// endFrame ends a batch's Step: its frame goes back now unless a slab
// views it.
func (n *Node) endFrame(e *PublishedBatch, v *frameView) {
	if v != nil {
		n.unview(v, false)
		return
	}
	if e.Frame != nil {
		n.emit(&ReleaseFrame{Frame: e.Frame, Recycle: true})
	}
}

// unview ends one view of v; the last gives the frame back. keep: the one
// ending goes to the collector.
func (n *Node) unview(v *frameView, keep bool) {
	v.keep = v.keep || keep
	if v.slabs--; v.slabs > 0 {
		return
	}
	n.viewedBytes -= v.bytes
	n.emit(&ReleaseFrame{Frame: v.ref, Recycle: !v.keep})
	v.ref = nil
}

// abandon lets go of the frame s views, for the collector: a holder of
// one of its messages let it go without releasing its hold (attach,
// detach), so s will never be freed.
func (n *Node) abandon(s *msgSlab) {
	if s != nil && s.frame != nil {
		n.unview(s.frame, true)
		s.frame = nil
	}
}

// abandonHanded lets go of the frames viewed by what s's stream was
// handed and will never report sent.
func (n *Node) abandonHanded(s *subscription) {
	for i := 0; i < s.handed.len(); i++ {
		n.abandon(s.handed.atPtr(i).slab)
	}
}
