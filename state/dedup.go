package state

// dedupWindow remembers the ids of the last `size` remote messages taken,
// so a message that arrives twice (a retried push, a resend racing the
// original) is delivered once.
type dedupWindow struct {
	seen  map[string]struct{}
	order deque[string]
	size  int
}

func (d *dedupWindow) init(size int) {
	d.seen = make(map[string]struct{}) // grows with use: idle nodes stay small
	d.size = size
}

// add records id and reports whether it was new.
func (d *dedupWindow) add(id string) bool {
	if _, ok := d.seen[id]; ok {
		return false
	}
	if d.order.len() >= d.size {
		delete(d.seen, d.order.popFront())
	}
	d.seen[id] = struct{}{}
	d.order.pushBack(id)
	return true
}
