package state

// Runs. A batch of publishes (PublishedBatch: one PublishStream frame) is
// routed a run at a time, a run being consecutive publishes to one topic.
// A run checks its topic once, looks it up once, numbers its messages for
// their source at once, matches local subscriptions, peers and departed
// peers once, and reads and writes each chain's range on the topic once. A
// subscription that can only queue (no credit, or a backlog already) takes
// the rest of the run in one append.
//
// Nothing else changes: each message is then handled in its turn as a lone
// publish is, and the run's effects are those of its publishes stepped one
// by one, in the same order. What is done for the whole run at once is
// only what no one can tell apart: work whose result cannot change during
// the run (a topic's validity, the routes, which chain records the topic),
// and a queue's intake, which emits nothing and is taken at once only when
// the node's budget cannot be passed during the run (so nothing is shed in
// between) and no alarm is set on the way (so timers keep their order).
// A lone Published, a retained publish, and a publish with no run around
// it go alone (publishOne), as before.

// runSub is a local subscription the run reaches. bulk: it took the rest
// of the run into its queue at once; later messages only count it.
type runSub struct {
	s    *subscription
	bulk bool
}

// runChain is a chain the run records into, a live peer's (p set) or a
// departed peer's, with its range on the run's topic held here for the
// run and written back at its end.
type runChain struct {
	c     *chain
	p     *peer
	r     sentRange
	count int  // messages recorded so far
	size  int  // how many topics the chain's map holds, as record would have it
	fresh bool // record would have started the map again after the first message
}

// runScratch is the run under way; its slices are reused.
type runScratch struct {
	subs    []runSub
	chains  []runChain // live peers first, in match order, then departed peers
	peers   int        // how many of chains are live peers
	msgs    []*Message // made so far (runMessages), in order
	dropped []int      // drops by bulk intakes, by message

	byNumber bool      // the batch's answers need no ids (PublishedBatch.ByNumber)
	borrowed bool      // the batch's payloads are to be copied (PublishedBatch.Borrowed)
	frame    lentFrame // or kept where they are, in counted slabs (frames.go)
	copyLeft int       // bytes of borrowed payloads the run's tail has yet to copy (keepPayload)

	// What runMessages makes the run's messages from.
	pubs       []Published
	topic      string // the topic's own name, which every message of the run shares
	seq        uint64 // the source number before the run's first
	defaultTTL int64
	slab       []Message // where the next messages go, from slab[used]
	used       int
	reused     *msgSlab   // slab's own, when the run's slabs are counted (slab.go)
	counted    []*msgSlab // those slabs: each holds itself for the run, until endRun
}

func (n *Node) onPublishedBatch(e *PublishedBatch) {
	n.run.byNumber, n.run.borrowed = e.ByNumber, e.Borrowed
	n.run.frame.lend(e.Frame, e.FrameBytes, e.Borrowed)
	pubs := e.Pubs
	for len(pubs) > 0 {
		k := 1
		for k < len(pubs) && pubs[k].Topic == pubs[0].Topic {
			k++
		}
		n.publishRun(pubs[:k])
		pubs = pubs[k:]
	}
	n.endFrame(&n.run.frame)
	n.run.byNumber, n.run.borrowed = false, false
}

// publishRun publishes consecutive publishes to one topic. A retained one
// goes alone (publishOne); a refused one is answered in its turn; the
// others go in stretches (publishStretch), or alone if they have no
// neighbour to go with. The budget is restored after each message, as
// after each Step.
func (n *Node) publishRun(pubs []Published) {
	if len(pubs) == 1 || n.groupsWant(pubs[0].Topic) {
		// A queue group chooses a member per message (groups.go): one
		// at a time.
		for i := range pubs {
			n.publishOne(&pubs[i])
			n.shedBudget()
		}
		return
	}
	topicErr := ValidateTopic(pubs[0].Topic, n.cfg.MaxTopicBytes, n.cfg.MaxTopicLevels)
	for i := 0; i < len(pubs); {
		e := &pubs[i]
		switch {
		case e.Retain:
			n.publishOne(e)
		case topicErr != nil:
			n.reject(reasonBadTopic)
			n.refusePublish(e.Req, topicErr)
		case !n.fieldsOK(e):
			reason, err := n.checkFields(e)
			n.reject(reason)
			n.refusePublish(e.Req, err)
		default:
			j := i + 1
			for j < len(pubs) && !pubs[j].Retain && n.fieldsOK(&pubs[j]) {
				j++
			}
			if j-i > 1 {
				n.publishStretch(pubs[i:j])
				i = j
				continue
			}
			n.publishOne(e)
		}
		n.shedBudget()
		i++
	}
}

// publishStretch publishes two or more valid publishes to one topic, none
// retained.
func (n *Node) publishStretch(pubs []Published) {
	r := &n.run
	topic := pubs[0].Topic
	t := n.useTopic(topic)
	n.matchRun(topic)
	foreign := n.foreignInbox(topic)
	defaultTTL := n.cfg.DefaultTTL.Milliseconds()
	n.numberRun(t, pubs, defaultTTL)
	bulkOK := n.runFits(pubs)
	if cap(r.dropped) < len(pubs) {
		r.dropped = make([]int, len(pubs))
	}
	r.dropped = r.dropped[:len(pubs)]
	clear(r.dropped)
	for i := range pubs {
		m := n.runMessages(i + 1)[i]
		if _, ok := expiresMs(m, defaultTTL); ok {
			n.expirableAdded() // setExpiry's count, in its turn
		}
		n.counters.Published++
		id := ""
		if !r.byNumber {
			id = n.named(m).ID
		}
		n.startPublish(pubs[i].Req, id)
		if !foreign { // another daemon's inbox: not numbered here (inbox.go deliverOwn)
			n.number(t, m)
		}
		bulk := 0
		for j := range r.subs {
			rs := &r.subs[j]
			if !rs.bulk && bulkOK && !n.handsOut(rs.s) && n.onlyQueues(rs.s) {
				rs.bulk = true
				n.queueRest(rs.s, n.runMessages(len(pubs))[i:], r.dropped[i:])
			}
			if rs.bulk {
				bulk++
			} else {
				n.enqueue(rs.s, m)
			}
		}
		p := n.pub
		n.pub = nil
		p.result.Subscribers += bulk + r.peers
		p.result.Dropped += r.dropped[i]
		for j := range r.chains {
			rc := &r.chains[j]
			o := outgoing{m: m, prev: n.recordRun(rc, topic, m.SourceSeq), chained: true}
			if rc.p != nil {
				n.enqueuePushIn(rc.p, o, &rc.r)
			} else {
				n.keepMissed(rc.c, o)
				n.counters.RecordedForDeparted++
			}
		}
		if p.waiting == 0 {
			if r.byNumber && p.result.Blocked == 0 {
				n.completeInRun(p.req)
			} else {
				n.completePublish(p)
			}
		}
		n.shedBudget()
	}
	n.endRun(topic)
}

// completeInRun answers publish req of a batch by number, published at
// once: by extending the Step's run answer when req follows it, else by
// starting one.
func (n *Node) completeInRun(req uint64) {
	if c := n.pubRun; c != nil && c.First+uint64(c.N) == req {
		c.N++
		return
	}
	n.pubRun = &CompletePublishRun{First: req, N: 1}
	n.emit(n.pubRun)
}

// matchRun finds the run's routes: the active local subscriptions, the
// peers and the departed peers that want topic, each once, in the order a
// lone publish visits them.
func (n *Node) matchRun(topic string) {
	if IsInbox(topic) {
		n.matchInbox(topic)
		return
	}
	r := &n.run
	n.mark++
	mark := n.mark
	n.localRoutes.match(topic, func(s *subscription) {
		if s.mark == mark {
			return
		}
		s.mark = mark
		if !s.paused && s.group == "" { // a live member makes its topic go one at a time (publishRun)
			r.subs = append(r.subs, runSub{s: s})
		}
	})
	n.peerRoutes.match(topic, func(p *peer) {
		if p.mark != mark {
			p.mark = mark
			r.chains = append(r.chains, runChain{c: p.link.chain, p: p})
		}
	})
	r.peers = len(r.chains)
	n.departedRoutes.match(topic, func(c *chain) {
		if c.mark != mark {
			c.mark = mark
			r.chains = append(r.chains, runChain{c: c})
		}
	})
}

// numberRun numbers the run's messages for their source in one step.
// The messages themselves are made as they are needed (runMessages), each
// just before it is routed, while it is fresh in the cache, or at once
// for the rest of the run when a bulk intake takes it.
func (n *Node) numberRun(t *topicState, pubs []Published, defaultTTL int64) {
	r := &n.run
	r.pubs, r.topic, r.seq, r.defaultTTL = pubs, t.name, t.ownSeq, defaultTTL
	t.ownSeq += uint64(len(pubs))
}

// runMessages makes the run's first k messages, those not made yet, and
// returns all made so far. Each is the message localMessage would make,
// its expiry fixed (the reaper learns of each in its turn); they take
// their ids in order, as nothing else takes one during the run. They are
// allocated runMsgsPerSlab at a time, as one array: a slab is freed when
// the last of its messages is, and a run's messages share a topic and are
// let go in order, mostly together.
func (n *Node) runMessages(k int) []*Message {
	r := &n.run
	for i := len(r.msgs); i < k; i++ {
		if r.used == len(r.slab) {
			size := min(len(r.pubs)-i, runMsgsPerSlab)
			r.reused = nil
			if size == runMsgsPerSlab {
				// What holds them is counted, and the slab is used
				// again once nothing does (slab.go).
				r.reused = n.runSlab()
				r.reused.holds = 1 // the run's, for all its messages, until endRun
				n.viewedBy(r.reused, &r.frame)
				r.counted = append(r.counted, r.reused)
				r.slab = r.reused.msgs[:]
			} else {
				// The run's tail: its payloads share one chunk of their size.
				r.slab = make([]Message, size)
				r.copyLeft = 0
				for j := i; j < len(r.pubs); j++ {
					r.copyLeft += len(r.pubs[j].Payload)
				}
			}
			r.used = 0
		}
		m := &r.slab[r.used]
		r.used++ // (an index: moving slab on would write a pointer each time)
		m.slab = r.reused
		if m.IDNum = n.ids.takeNumber(); m.IDNum == 0 {
			m.ID, m.IDNum = n.ids.take()
		}
		n.fillLocal(m, &r.pubs[i], r.seq+uint64(i)+1)
		switch {
		case r.reused != nil && r.reused.frame != nil:
			m.Payload = viewed(m.Payload)
		case r.borrowed:
			m.Payload = n.keepPayload(r.reused, m.Payload)
		}
		m.Topic = r.topic
		if at, ok := expiresMs(m, r.defaultTTL); ok {
			m.ExpiresMs = at
		}
		r.msgs = append(r.msgs, m)
	}
	return r.msgs
}

// msgsPerSlab bounds how many pushed messages share one allocation, and
// so what one message still held keeps alive: a push may mix topics.
const msgsPerSlab = 8

// runMsgsPerSlab is msgsPerSlab for a run of local publishes. A run is
// one topic and its messages are consecutive, so a ring, a queue or the
// node's byte cap lets them go in order: a message held keeps at most its
// slab's older siblings alive, and a topic's ring at most one slab's
// worth beyond what it counts. Allocating 32 at a time rather than 8 cut
// BenchmarkPublishRun (1024 messages, one subscriber) from a median of
// 276 to 252 cpu-ns a message, alternating runs.
const runMsgsPerSlab = 32

// runFits reports whether the node stays within its budget even if every
// message of the run is charged to the ring and to every route it has,
// and nothing is let go: then no Step would shed anything during the run.
func (n *Node) runFits(pubs []Published) bool {
	sum := 0
	for i := range pubs {
		sum += publishedCost(&pubs[i])
	}
	holders := 1 + len(n.run.subs) + len(n.run.chains)
	return n.mem.total+sum*holders <= n.cfg.BudgetBytes
}

// publishedCost is the cost of the message a local publish of e makes.
func publishedCost(e *Published) int {
	return len(e.Payload) + len(e.Topic) + e.Extras.textBytes() + msgOverheadBytes
}

// onlyQueues reports whether s can only queue what comes next (it cannot
// hand a message out now, so it will not during the run), by drop-oldest
// or drop-newest, and a loss would not set an alarm (a warning held back
// by WarningInterval): then it can take the rest of a run at once.
func (n *Node) onlyQueues(s *subscription) bool {
	if s.policy == Block || s.blocked.len() > 0 || n.handsOut(s) {
		return false
	}
	wait := s.lastWarn + n.cfg.WarningInterval
	return s.warnQueued || s.stream == 0 || !s.warned || n.now.Mono >= wait || wait >= s.warnAlarm.armed
}

// handsOut reports whether s takes the next message at once, unqueued.
func (n *Node) handsOut(s *subscription) bool {
	return n.canHandOut(s) && s.pending.len() == 0 && s.queue.len() == 0
}

// queueRest is enqueue for each of msgs in turn on a subscription that
// only queues (onlyQueues), counting what each message made it drop in
// dropped. When they all fit it is one append.
func (n *Node) queueRest(s *subscription, msgs []*Message, dropped []int) {
	total := 0
	for _, m := range msgs {
		total += m.cost()
	}
	if s.queue.len()+len(msgs) <= s.limit && s.bytes+total <= n.cfg.QueueBytes {
		s.queue.pushBackAll(msgs)
		for _, m := range msgs {
			hold(m)
		}
		s.bytes += total
		n.charge(memQueues, total)
		return
	}
	held, drops, dropBytes := 0, 0, 0
	reason := "slow_consumer"
	for j, m := range msgs {
		c := m.cost()
		if !n.overQueue(s, c) {
			s.bytes += c
			held += c
			s.queue.pushBack(m)
			hold(m)
			continue
		}
		if s.policy == DropNewest {
			reason = "burst"
			drops++
			dropBytes += c
			dropped[j]++
			continue
		}
		for n.overQueue(s, c) && s.queue.len() > 0 {
			old := s.queue.popFront()
			oc := old.cost()
			n.release(old)
			s.bytes -= oc
			held -= oc
			drops++
			dropBytes += oc
			dropped[j]++
		}
		s.bytes += c
		held += c
		s.queue.pushBack(m)
		hold(m)
	}
	n.charge(memQueues, held)
	if drops > 0 { // as drop, once for all: noteLoss again changes nothing
		s.dropped += uint64(drops)
		n.counters.Dropped += uint64(drops)
		n.counters.Shed[memNames[memQueues]] += uint64(drops)
		n.counters.ShedBytes[memNames[memQueues]] += uint64(dropBytes)
		n.noteLoss(s, reason)
	}
}

// recordRun is record on the run's chain rc: it notes seq as sent and
// returns the number sent before it.
func (n *Node) recordRun(rc *runChain, topic string, seq uint64) uint64 {
	c := rc.c
	if rc.count == 0 {
		if c.topics == nil || len(c.topics) >= n.cfg.MaxStreams {
			c.forgetTopics()
		}
		rc.r, rc.size = sentRange{}, len(c.topics)
		if r := c.rangeOf(topic); r != nil {
			rc.r = *r
		} else {
			rc.size++
		}
	} else if rc.size >= n.cfg.MaxStreams { // record forgets every topic but this one
		rc.r, rc.size, rc.fresh = sentRange{}, 1, true
	}
	rc.count++
	prev := rc.r.last
	if rc.r.first == 0 {
		rc.r.first = seq
	}
	rc.r.last = seq
	return prev
}

// endRun writes the chains' ranges back and lets the run's scratch go.
func (n *Node) endRun(topic string) {
	r := &n.run
	for i := range r.chains {
		rc := &r.chains[i] // every message went to it: count > 0
		if rc.fresh {
			rc.c.forgetTopics()
		}
		rc.c.setRange(topic, rc.r)
	}
	for _, s := range r.counted {
		n.releaseSlab(s)
	}
	clear(r.counted)
	r.counted = r.counted[:0]
	clear(r.subs)
	clear(r.chains)
	clear(r.msgs)
	r.subs, r.chains, r.msgs, r.peers = r.subs[:0], r.chains[:0], r.msgs[:0], 0
	r.pubs, r.topic, r.slab, r.used, r.reused, r.copyLeft = nil, "", nil, 0, nil, 0
}
