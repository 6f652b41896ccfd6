package state

// Frames viewed in place.
//
// A PublishedBatch or PushReceived that comes with its Frame (a frame the
// shell keeps until told) has its payloads kept where they are by the
// messages made in counted slabs (slab.go: a run of local publishes, or
// of one topic's messages in a push), instead of copied into the slab's
// buffer. Such a slab views the frame: the frame is given back
// (ReleaseFrame) once the event's Step is over and every slab viewing it
// has let it go, which a slab does when its last hold ends. A push's slab
// may go on into the next push: its messages from another frame than the
// one it views are copied. A slab freed for reuse lets go for recycling;
// a pinned one, read where holds are not counted, or one whose holds a
// stream or subscription abandoned (held for good), lets go for the
// collector, as its messages are. Messages made otherwise (a lone or
// retained publish, the run's tail short of a slab) copy their payloads
// as before.
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
	ref   any // the event's Frame; nil once given back
	lent  any // the same, kept: what Message.Frame reads
	bytes int
	slabs int32 // slabs viewing it, and the event's Step while under way
	keep  bool  // one that let go went to the collector: not to be recycled
}

// lentFrame is the frame of the event being stepped, and its view once a
// slab takes one.
type lentFrame struct {
	ref      any // nil: none
	bytes    int
	borrowed bool // its payloads are; else no slab may view it
	view     *frameView
}

// lend notes the frame of the event about to be stepped.
func (f *lentFrame) lend(frame any, bytes int, borrowed bool) {
	*f = lentFrame{ref: frame, bytes: bytes, borrowed: borrowed}
}

// viewedBy makes slab s view the event's frame, unless it has none or
// the node views too much already.
func (n *Node) viewedBy(s *msgSlab, f *lentFrame) {
	if f.view == nil {
		if f.ref == nil || !f.borrowed || n.viewedBytes+f.bytes > n.cfg.BudgetBytes/maxViewedShare {
			return
		}
		n.viewedBytes += f.bytes
		n.counters.FramesViewed++
		f.view = &frameView{ref: f.ref, lent: f.ref, bytes: f.bytes, slabs: 1}
	}
	s.frame, s.viewed = f.view, f.view
	f.view.slabs++
}

// Frame is the shell's frame (a PublishedBatch's or PushReceived's Frame)
// that the slab m was made in viewed when m was made, or nil. m's payload
// may lie in it, or be a copy: a shell that reads the frame's bytes around
// m's payload checks first that the payload lies in them. It may be read
// from any goroutine while m is held, as m's fields may (the slab's view
// is set before m is handed out and cleared only when the slab is used
// again, when nothing holds its messages).
func (m *Message) Frame() any {
	if m.slab == nil || m.slab.viewed == nil {
		return nil
	}
	return m.slab.viewed.lent
}

// endFrame ends an event's Step: its frame goes back now unless a slab
// views it.
func (n *Node) endFrame(f *lentFrame) {
	switch {
	case f.view != nil:
		n.unview(f.view, false)
	case f.ref != nil:
		n.giveBack(f.ref, true)
	}
	*f = lentFrame{}
}

// giveBack gives a frame back (ReleaseFrame).
func (n *Node) giveBack(frame any, recycle bool) {
	r := n.releases.next()
	r.Frame, r.Recycle = frame, recycle
	n.emit(r)
}

// unview ends one view of v; the last gives the frame back. keep: the one
// ending goes to the collector.
func (n *Node) unview(v *frameView, keep bool) {
	v.keep = v.keep || keep
	if v.slabs--; v.slabs > 0 {
		return
	}
	n.viewedBytes -= v.bytes
	n.giveBack(v.ref, !v.keep)
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

// viewed is payload p kept where it is, in a viewed frame: its capacity
// ends with it, and an empty one is nil, as keepPayload's copy would be.
func viewed(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return p[:len(p):len(p)]
}
