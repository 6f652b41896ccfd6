package state

// Per-topic numbering and replay rings.
//
// Every message a node delivers, and every message it publishes, is
// numbered for its topic (1, 2, 3..., never going back) and kept in that
// topic's ring for replay and resend. Rings hold at most
// MessageBufferSize messages each and RingBytes of payload together;
// when either cap is hit the oldest message goes first. All ringed messages
// are also on one list in arrival order, so the byte cap evicts the oldest
// message of the whole node in O(1).

type topicState struct {
	name   string
	head   uint64 // last sequence number given on this node
	ownSeq uint64 // last source_sequence of our own publishes
	lost   uint64 // numbers skipped for messages declared lost in the mesh
	gone   uint64 // arrival index of the newest message that left the ring
	ring   deque[*Message]

	lruPrev, lruNext *topicState // topicTable's recency list
}

// topicTable holds topic states, at most MaxTopics; the least recently
// used goes when a new one needs the room.
type topicTable struct {
	m          map[string]*topicState
	head, tail *topicState // least ... most recently used
}

func (tt *topicTable) init() { tt.m = make(map[string]*topicState) }

func (tt *topicTable) get(name string) *topicState { return tt.m[name] }

// use returns the topic's state, creating it (and evicting another if the
// table is full), and marks it most recently used.
func (n *Node) useTopic(name string) *topicState {
	tt := &n.topics
	if t := tt.tail; t != nil && t.name == name {
		return t // the topic of the run under way: no lookup
	}
	t := tt.m[name]
	if t == nil {
		if len(tt.m) >= n.cfg.MaxTopics {
			n.evictTopic(n.topicToEvict())
		}
		t = &topicState{name: name, head: n.headFloor, ownSeq: n.ownSeqFloor}
		tt.m[name] = t
	} else if t == tt.tail {
		return t
	} else {
		tt.unlink(t)
	}
	t.lruPrev, t.lruNext = tt.tail, nil
	if tt.tail != nil {
		tt.tail.lruNext = t
	} else {
		tt.head = t
	}
	tt.tail = t
	return t
}

func (tt *topicTable) unlink(t *topicState) {
	if t.lruPrev != nil {
		t.lruPrev.lruNext = t.lruNext
	} else {
		tt.head = t.lruNext
	}
	if t.lruNext != nil {
		t.lruNext.lruPrev = t.lruPrev
	} else {
		tt.tail = t.lruPrev
	}
	t.lruPrev, t.lruNext = nil, nil
}

// evictScan is how many of the least recently used topics eviction looks
// through for one no subscription wants.
const evictScan = 64

// topicToEvict picks the least recently used topic no local subscription
// (active or paused) wants: a wanted topic's ring is its subscribers'
// replay. Only when the oldest evictScan are all wanted does the oldest go.
func (n *Node) topicToEvict() *topicState {
	t := n.topics.head
	for i := 0; t != nil && i < evictScan; i, t = i+1, t.lruNext {
		if !n.wantsTopic(t.name) {
			return t
		}
	}
	return n.topics.head
}

func (n *Node) evictTopic(t *topicState) {
	for t.ring.len() > 0 {
		n.unring(t.ring.popFront())
	}
	n.topics.unlink(t)
	delete(n.topics.m, t.name)
	// Our numbering of a topic must never go back, or receivers and
	// subscribers would take new messages for old ones: a topic created
	// again starts above every number any evicted topic reached.
	n.ownSeqFloor = max(n.ownSeqFloor, t.ownSeq)
	n.headFloor = max(n.headFloor, t.head)
	n.counters.TopicsEvicted++
}

// buffer is the arrival-order list of every ringed message.
type buffer struct {
	first, last *Message
	count       int
	bytes       int
	index       uint64 // arrivals ever; a message's place in that order
}

func (b *buffer) link(m *Message) {
	b.index++
	m.index = b.index
	m.bufPrev, m.bufNext = b.last, nil
	if b.last != nil {
		b.last.bufNext = m
	} else {
		b.first = m
	}
	b.last = m
	b.count++
	b.bytes += m.cost()
}

// holds reports whether m is linked in the buffer: it has a predecessor,
// or it is the first.
func (b *buffer) holds(m *Message) bool { return m.bufPrev != nil || b.first == m }

func (b *buffer) unlink(m *Message) {
	if !b.holds(m) {
		return
	}
	m.topic.gone = max(m.topic.gone, m.index)
	if m.bufPrev != nil {
		m.bufPrev.bufNext = m.bufNext
	} else {
		b.first = m.bufNext
	}
	if m.bufNext != nil {
		m.bufNext.bufPrev = m.bufPrev
	} else {
		b.last = m.bufPrev
	}
	m.bufPrev, m.bufNext = nil, nil
	b.count--
	b.bytes -= m.cost()
}

// unring takes m (already out of its topic's ring) off the buffer.
func (n *Node) unring(m *Message) {
	if !n.buffer.holds(m) {
		return
	}
	n.charge(memRing, -m.cost())
	n.buffer.unlink(m)
	n.release(m)
}

// evictOldestRinged lets the node's oldest ringed message go (the oldest
// of its own topic's ring), counted as shed by class c's cap.
func (n *Node) evictOldestRinged(c memClass) {
	old := n.buffer.first
	old.topic.ring.popFront()
	cost := old.cost()
	n.unring(old)
	n.counters.BufferEvicted++
	n.shed(c, cost)
}

// number gives m the next sequence of its topic and rings it.
func (n *Node) number(t *topicState, m *Message) {
	t.head++
	m.Seq = t.head
	m.topic = t
	if t.ring.len() >= n.cfg.MessageBufferSize {
		n.unring(t.ring.popFront())
		n.counters.BufferEvicted++
	}
	t.ring.pushBack(m)
	n.buffer.link(m)
	hold(m)
	n.charge(memRing, m.cost())
	for n.buffer.bytes > n.cfg.RingBytes && n.buffer.first != nil {
		n.evictOldestRinged(memRing)
	}
}

// reapRing drops expired messages from every ring.
func (n *Node) reapRings(nowMs int64) {
	for _, t := range n.topics.m {
		t.ring.filter(func(m *Message) bool {
			if m.expired(nowMs) {
				n.unring(m)
				return false
			}
			return true
		})
	}
}
