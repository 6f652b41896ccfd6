package state

import (
	"bytes"
	"math"
	"slices"
	"unicode/utf8"
)

// Publishing and routing. A local publish is numbered, ringed, handed to
// every matching local subscription and pushed once to every peer whose
// synced patterns match (a retained publish to every peer, so all nodes
// hold the same retained values). A message from a peer is delivered
// locally only: one hop, no loops.

// Caps on envelope text fields; a longer one is not from a NexusD node.
const (
	maxMessageIDBytes   = 128
	maxContentTypeBytes = 256
	maxCorrelationBytes = 1024
)

// pendingPublish is a local publish waiting for its answer: at once, or
// when the last Block subscription it waits for takes it.
type pendingPublish struct {
	req     uint64
	result  PublishResult
	waiting int
}

func (n *Node) onPublished(e *Published) { n.publishOne(e) }

// publishOne publishes e by itself: a lone Published, and in a batch a
// retained publish or one with no run around it (run.go).
func (n *Node) publishOne(e *Published) {
	if err := n.checkPublish(e); err != nil {
		n.refusePublish(e.Req, err)
		return
	}
	t := n.useTopic(e.Topic)
	t.ownSeq++
	m := n.localMessage(e, t.ownSeq)
	n.setExpiry(m)
	n.counters.Published++
	if m.Retain {
		n.applyRetained(m)
	}
	n.startPublish(e.Req, m.ID)
	n.deliverOwn(t, m)
	p := n.pub
	n.pub = nil
	p.result.Subscribers += n.route(m)
	if p.waiting == 0 {
		n.completePublish(p)
	}
}

// named returns m with its id rendered. A message of ours may hold only
// its number (runMessages) until something needs the string: a stream
// that is not by number (Subscribed.ByNumber), a peer, an answer. It is
// rendered on the node's goroutine, before the message leaves in an
// effect to anyone who reads the string; a shell reading a message it got
// by number reads IDNum, never ID, so it never races the write.
func (n *Node) named(m *Message) *Message {
	switch {
	case m.ID != "" || m.IDNum == 0:
	case m.Source == n.cfg.NodeID:
		m.ID = n.ids.name(m.IDNum)
	default: // a peer's, pushed by number (Envelope.IDNum)
		m.ID = n.peerIDs.name(m.Source, m.IDNum)
	}
	return m
}

// startPublish points n.pub at pubScratch, set for a new publish answering
// req with message id. Field by field: a whole pendingPublish written is
// slower.
func (n *Node) startPublish(req uint64, id string) {
	p := &n.pubScratch
	p.req, p.waiting = req, 0
	p.result.MessageID, p.result.Subscribers, p.result.Dropped, p.result.Blocked = id, 0, 0, 0
	n.pub = p
}

// localMessage is the message a local publish makes, numbered seq for
// its topic by this node as source.
func (n *Node) localMessage(e *Published, seq uint64) *Message {
	m := new(Message)
	m.ID, m.IDNum = n.ids.take()
	n.fillLocal(m, e, seq)
	if n.run.borrowed {
		if m.Retain {
			m.Payload = append([]byte(nil), m.Payload...) // may be kept for good: alone
		} else {
			m.Payload = n.keepPayload(nil, m.Payload)
		}
	}
	return m
}

// fillLocal makes the zero message m, its id set or numbered, the one
// localMessage would make.
func (n *Node) fillLocal(m *Message, e *Published, seq uint64) {
	m.Topic = e.Topic
	m.Payload = e.Payload
	m.TimestampMs = n.now.WallMs
	m.Source = n.cfg.NodeID
	m.Retain = e.Retain
	m.TTLMs = e.TTLMs
	m.SourceSeq = seq
	m.Extras = e.Extras // never changed after: shared (checkFields refused the mesh's fields)
}

func (n *Node) refusePublish(req uint64, err error) {
	c := n.completes.next()
	c.Req, c.Err = req, err
	n.emit(c)
}

func (n *Node) completePublish(p *pendingPublish) {
	c := n.completes.next()
	// Field by field: p's result was just written by parts, and a copy of
	// it whole reads those parts back at once, which stalls.
	r := &p.result
	c.Req = p.req
	c.Result.MessageID, c.Result.Subscribers, c.Result.Dropped, c.Result.Blocked = r.MessageID, r.Subscribers, r.Dropped, r.Blocked
	n.emit(c)
}

func (n *Node) checkPublish(e *Published) error {
	if err := ValidateTopic(e.Topic, n.cfg.MaxTopicBytes, n.cfg.MaxTopicLevels); err != nil {
		n.reject(reasonBadTopic)
		return err
	}
	if reason, err := n.checkFields(e); err != nil {
		n.reject(reason)
		return err
	}
	if e.Retain && IsInbox(e.Topic) {
		n.reject(reasonBadArgument)
		return errorf(Invalid, "topic %q is an inbox topic: a reply is never retained; publish it without retain", e.Topic)
	}
	if e.Retain && len(e.Payload) > 0 {
		cur := n.retained.byTopic[e.Topic]
		if cur == nil && len(n.retained.byTopic) >= n.cfg.MaxRetained {
			n.reject(reasonRetainedLimit)
			return errorf(Limit, "retained topics are at their limit of %d, a cleared one counting for %v after its clear (so that a late value cannot bring it back): clear some (publish an empty payload with retain) and retry after that, or publish without retain",
				n.cfg.MaxRetained, n.cfg.TombstoneTTL)
		}
		cost := publishedCost(e)
		switch n.retainedRoom(cur, cost) {
		case reasonRetainedLimit:
			n.reject(reasonRetainedLimit)
			return errorf(Limit, "retained values hold %d bytes and this one would pass the limit of %d: clear some or publish without retain", n.retained.bytes, n.cfg.MaxRetainedBytes)
		case reasonBudget:
			n.reject(reasonBudget)
			return errorf(Limit, "this node holds %d bytes, its budget (--max-buffer-bytes) of %d: retained values wait until it holds less; publish without retain, or raise the budget", n.mem.total, n.cfg.BudgetBytes)
		}
	}
	return nil
}

// checkFields checks a publish's fields but its topic and retain, and
// says which reason to count a refusal under.
func (n *Node) checkFields(e *Published) (string, error) {
	if len(e.Payload) > n.cfg.MaxPayloadBytes {
		return reasonPayloadSize, errorf(Invalid, "payload is %d bytes: the limit is %d (--max-payload)", len(e.Payload), n.cfg.MaxPayloadBytes)
	}
	contentType, correlation, replyTo := e.Extras.Texts()
	switch {
	case e.TTLMs < 0:
		return reasonBadArgument, errorf(Invalid, "ttl_ms is %d: give 0 for no expiry or a positive number of milliseconds", e.TTLMs)
	case len(contentType) > maxContentTypeBytes:
		return reasonBadArgument, errorf(Invalid, "content_type is %d bytes: the limit is %d", len(contentType), maxContentTypeBytes)
	case len(correlation) > maxCorrelationBytes:
		return reasonBadArgument, errorf(Invalid, "correlation_id is %d bytes: the limit is %d", len(correlation), maxCorrelationBytes)
	case !utf8.ValidString(contentType):
		return reasonBadArgument, errorf(Invalid, "content_type %.40q is not valid UTF-8", contentType)
	case !utf8.ValidString(correlation):
		return reasonBadArgument, errorf(Invalid, "correlation_id %.40q is not valid UTF-8", correlation)
	case e.Extras.meshOnly():
		return reasonBadArgument, errorf(Invalid, "a publish sets no queue groups and no dropped-from claim: the mesh sets those")
	}
	if err := ValidateReplyTo(replyTo, n.cfg.MaxTopicBytes, n.cfg.MaxTopicLevels); err != nil {
		return reasonBadArgument, err
	}
	return "", nil
}

// fieldsOK is checkFields without building the error.
func (n *Node) fieldsOK(e *Published) bool {
	if len(e.Payload) > n.cfg.MaxPayloadBytes || e.TTLMs < 0 {
		return false
	}
	if e.Extras == nil {
		return true
	}
	contentType, correlation, replyTo := e.Extras.Texts()
	return len(contentType) <= maxContentTypeBytes && len(correlation) <= maxCorrelationBytes && n.replyToOK(replyTo) && !e.Extras.meshOnly() &&
		utf8.ValidString(contentType) && utf8.ValidString(correlation)
}

// checkEnvelope validates a message from a peer.
func (n *Node) checkEnvelope(e *Envelope) error {
	switch {
	case (e.ID == "" && e.IDNum == 0) || len(e.ID) > maxMessageIDBytes:
		return errorf(Invalid, "message_id must be 1 to %d bytes", maxMessageIDBytes)
	case e.Source == "" || len(e.Source) > maxIDBytes:
		return errorf(Invalid, "source_node_id must be 1 to %d bytes", maxIDBytes)
	case len(e.Payload) > n.cfg.MaxPayloadBytes:
		return errorf(Invalid, "payload is %d bytes: the limit is %d", len(e.Payload), n.cfg.MaxPayloadBytes)
	case e.TTLMs < 0 || len(e.ContentType()) > maxContentTypeBytes || len(e.Correlation()) > maxCorrelationBytes:
		return errorf(Invalid, "ttl_ms, content_type or correlation_id out of range")
	case !utf8.ValidString(e.ContentType()) || !utf8.ValidString(e.Correlation()):
		return errorf(Invalid, "content_type or correlation_id is not valid UTF-8")
	case !n.replyToOK(e.ReplyTo()):
		return errorf(Invalid, "reply_to %.40q is not an inbox topic", e.ReplyTo())
	}
	if e.Topic != "" && e.Topic == n.validTopic { // runs of one topic are checked once
		return nil
	}
	if err := ValidateTopic(e.Topic, n.cfg.MaxTopicBytes, n.cfg.MaxTopicLevels); err != nil {
		return err
	}
	n.validTopic = e.Topic
	return nil
}

// setExpiry fixes when m expires: its own TTL, else the node's default,
// measured from its timestamp.
func (n *Node) setExpiry(m *Message) {
	if at, ok := expiresMs(m, n.cfg.DefaultTTL.Milliseconds()); ok {
		m.ExpiresMs = at
		n.expirableAdded()
	}
}

// expiresMs is when m expires given the default TTL, and false when it
// never does: no TTL, or one that runs past the largest time there is.
func expiresMs(m *Message, defaultTTLMs int64) (int64, bool) {
	ttl := m.TTLMs
	if ttl == 0 {
		ttl = defaultTTLMs
	}
	if m.TimestampMs > 0 && ttl > math.MaxInt64-m.TimestampMs {
		return 0, false
	}
	return m.TimestampMs + ttl, ttl > 0
}

// remoteMessage makes the message a peer's envelope e becomes here. It
// is allocated msgsPerSlab at a time, or while a push's run of one topic
// has more than that to come (n.runLeft, counting e), in a counted slab
// of runMsgsPerSlab (slab.go), used again once nothing holds its
// messages: a run's messages are let go in order, as a local run's are
// (runMessages), each taken (or dropped) before the next is made, which
// may end the slab's own hold. A remote message is never pushed on, so
// what holds one is counted (the ring, subscriptions, streams), or pins
// its slab (held behind a hole or for its source to vouch, a queue
// group's copy). A retained value, which may be kept for good, is
// allocated alone (loneMessage).
//
// A borrowed payload (PushReceived.Borrowed) is copied as a local run's
// is (keepPayload): into the counted slab's own buffer, or a chunk.
func (n *Node) remoteMessage(e *Envelope) *Message {
	if e.Retain {
		return n.loneMessage(e)
	}
	if n.remote != nil && n.remoteUsed == runMsgsPerSlab {
		n.releaseSlab(n.remote) // remoteMessage's own hold: every message of it is made
		n.remote = nil
	}
	var m *Message
	switch {
	case n.remote != nil:
		m = &n.remote.msgs[n.remoteUsed]
		n.remoteUsed++
	case n.runLeft > msgsPerSlab:
		n.remote, n.remoteUsed = n.runSlab(), 1
		n.remote.holds = 1 // until its last message is made
		n.viewedBy(n.remote, &n.pushFrame)
		m = &n.remote.msgs[0]
	default:
		if n.slabUsed == len(n.slab) {
			n.slab, n.slabUsed = make([]Message, msgsPerSlab), 0
		}
		m = &n.slab[n.slabUsed]
		n.slabUsed++ // (an index, as in runMessages)
	}
	m.Envelope = *e
	m.slab = n.remote
	switch {
	case n.remote != nil && n.remote.frame != nil && n.remote.frame == n.pushFrame.view:
		m.Payload = viewed(m.Payload)
	case n.borrowed:
		m.Payload = n.keepPayload(n.remote, m.Payload)
	}
	n.setExpiry(m)
	return m
}

// loneMessage makes the message a peer's envelope e becomes here in an
// allocation of its own, its payload its own: for one that may be kept
// for good, or made before anything holds it while more are made (a
// resend's, sorted before they are taken), which in a counted slab could
// be freed by the next one made ending the slab's own hold.
func (n *Node) loneMessage(e *Envelope) *Message {
	m := &Message{Envelope: *e}
	if n.borrowed {
		m.Payload = bytes.Clone(m.Payload)
	}
	n.setExpiry(m)
	return m
}

// deliverLocal numbers m and hands it to every matching active local
// subscription. n.pub, when set, collects a local publisher's answer.
func (n *Node) deliverLocal(t *topicState, m *Message) {
	n.number(t, m)
	n.mark++
	mark := n.mark
	for _, s := range n.localMatch(m.Topic) {
		if s.mark == mark {
			continue
		}
		s.mark = mark
		if s.paused || s.group != "" {
			continue // a queue group's member gets only what it is chosen for
		}
		n.enqueue(s, m)
	}
	if n.groups.any() {
		if m.Source == n.cfg.NodeID {
			n.pickGroups(m)
		} else if len(m.QueueGroups()) > 0 {
			n.deliverGroups(m)
		}
	}
}

func (n *Node) deliverRemote(m *Message) { n.deliverOwn(n.useTopic(m.Topic), m) }

// wantsTopic reports whether any local subscription, active or paused,
// matches topic.
func (n *Node) wantsTopic(topic string) bool {
	return len(n.localMatch(topic)) > 0
}

// matchMemo is a trie's answer for one topic, as the trie was at gen.
type matchMemo struct {
	topic string
	gen   uint64
	valid bool
	subs  []*subscription
}

// localMatch is what localRoutes.match visits for topic, in its order
// (a subscription once per pattern of it that matches). Messages come in
// runs of one topic, so the answer is remembered until the topic or the
// trie changes. The slice is valid until the next call: nothing its
// callers do while they walk it matches again (delivering and queueing
// never change the trie).
func (n *Node) localMatch(topic string) []*subscription {
	c := &n.localMemo
	if c.valid && c.gen == n.localRoutes.gen && c.topic == topic {
		return c.subs
	}
	clear(c.subs)
	c.subs = c.subs[:0]
	n.localRoutes.match(topic, func(s *subscription) { c.subs = append(c.subs, s) })
	c.topic, c.gen, c.valid = topic, n.localRoutes.gen, true
	return c.subs
}

// route pushes m to every peer that wants it and returns how many that is.
func (n *Node) route(m *Message) int {
	if IsInbox(m.Topic) {
		return n.routeInbox(m)
	}
	n.mark++
	mark := n.mark
	count := 0
	n.peerRoutes.match(m.Topic, func(p *peer) {
		if p.mark == mark {
			return
		}
		p.mark = mark
		count++
		n.send(p, m)
	})
	for _, pk := range m.pickList() {
		if pk.peer.mark != mark { // chosen for groups only
			pk.peer.mark = mark
			count++
			n.send(pk.peer, m)
		}
	}
	if m.Retain {
		for _, p := range n.sortedPeers() {
			if p.mark != mark {
				p.mark = mark
				n.replicate(p, m)
			}
		}
	}
	n.routeDeparted(m, mark)
	return count
}

func (n *Node) onPushReceived(e *PushReceived) {
	var errs []error
	if e.SentAtMs != 0 {
		n.senderClock(e)
	}
	runEnd := 0
	n.borrowed = e.Borrowed
	n.pushFrame.lend(e.Frame, e.FrameBytes, e.Borrowed)
	for i := range e.Envs {
		env := &e.Envs[i]
		if i >= runEnd {
			runEnd = sameTopicRun(e.Envs, i)
		}
		n.runLeft = runEnd - i
		err := n.checkEnvelope(env)
		switch {
		case err != nil:
			n.reject(reasonBadEnvelope)
		case env.Source == n.cfg.NodeID:
			err = errorf(Invalid, "message %s comes from this node; pushes are one hop", env.MessageID())
			n.reject(reasonOwnEnvelope)
		}
		switch {
		case err != nil:
		case n.holdFull(env):
			err = errorf(Unavailable, "%d messages from %s on %s wait behind a hole already: push this one again later",
				n.cfg.RepairHoldLimit, short(env.Source), env.Topic)
			n.counters.PushesDeferred++
		}
		if err != nil {
			if errs == nil {
				errs = make([]error, len(e.Envs))
			}
			errs[i] = err
			continue
		}
		n.receiveRemote(env)
	}
	n.endFrame(&n.pushFrame)
	n.runLeft, n.borrowed = 0, false
	a := n.acks.next()
	a.Req, a.Errs = e.Req, errs
	n.emit(a)
}

// sameTopicRun is where the run of envelopes on envs[i]'s topic that
// starts at i ends.
func sameTopicRun(envs []Envelope, i int) int {
	j := i + 1
	for j < len(envs) && envs[j].Topic == envs[i].Topic {
		j++
	}
	return j
}

// firstSight records e's id in the dedup window and reports whether it
// is new there.
func (n *Node) firstSight(e *Envelope) bool {
	if e.ID == "" {
		return n.dedup.addDerived(e.Source, e.IDNum)
	}
	return n.dedup.add(e.ID, e.IDNum)
}

func (n *Node) receiveRemote(env *Envelope) {
	if env.SyncOnly {
		// Retained replication only: it was published while we could not
		// hear it, and is not a message for our subscribers now.
		if env.Retain {
			n.receiveRetained(env)
		}
		return
	}
	if !n.firstSight(env) {
		n.counters.Duplicates++
		return
	}
	m := n.remoteMessage(env)
	if m.Retain {
		// Even expired: it still replaces older values, so every node ends
		// with the same winner whatever its clock says about expiry.
		n.takeRetained(m, false)
	}
	if !n.wantsTopic(m.Topic) || n.foreignInbox(m.Topic) {
		if n.inHole(m) {
			// The topic's last subscription went while a hole was open in
			// this stream: numbered as usual, so the hole closes with what
			// arrived instead of being declared lost; delivered to nobody.
			n.sequenceRemote(m)
			return
		}
		// A retained value for replication only, or a message sent before
		// the source learned we stopped wanting the topic.
		if m.SourceSeq > 0 {
			n.skipUnwanted(m.Source, m.Topic, m.SourceSeq)
		}
		return
	}
	// An expired message is still numbered, so its subscribers learn it
	// expired, and it moves its stream on.
	n.counters.ReceivedRemote++
	if m.SourceSeq == 0 {
		n.deliverRemote(m) // from a v1 node: no numbering to repair by
		return
	}
	n.sequenceRemote(m)
}

// onResendRequested answers a peer's resend request with our own messages
// on the topic numbered From..To that we still hold: in the topic's ring,
// or still owed to that peer (waiting on its link, or kept for its return),
// expired ones included (the receiver numbers them and reports them as
// expired). The reply says the highest number we ever gave the topic, so
// the receiver can tell a number we never issued.
func (n *Node) onResendRequested(e *ResendRequested) {
	a := &AnswerResend{Req: e.Req, Reply: ResendReply{Instance: n.cfg.NodeID}}
	n.emit(a)
	n.counters.ResendsAnswered++
	if e.Source != n.cfg.NodeID {
		return // we are not the instance they numbered with
	}
	a.Reply.Latest = n.OwnSeq(e.Topic)
	from := e.From
	if from == 0 {
		if c := n.chains[e.Requester]; c != nil {
			if r := c.topics[e.Topic]; r != nil {
				from = r.first
			}
		}
		a.Reply.FirstSent = from
		if from == 0 {
			return // we do not know what we sent them
		}
	}
	held := n.ownHeld(e.Requester, e.Topic, 1, math.MaxUint64)
	if len(held) > 0 {
		a.Reply.FirstAvailable = held[0].SourceSeq
	}
	for _, m := range held {
		if m.SourceSeq >= from && m.SourceSeq <= e.To {
			pin(m) // the copy shares its payload, which a slab used again would overwrite
			a.Reply.Msgs = append(a.Reply.Msgs, n.named(m).Envelope)
			if m.picks != nil {
				if g := m.groupsFor(e.Requester); len(g) > 0 {
					a.Reply.Msgs[len(a.Reply.Msgs)-1].Edit().QueueGroups = g
				}
			}
		}
	}
}

// ownHeld collects our own messages on topic numbered from..to that we
// still hold for peer, by number: the topic's ring, and what is still owed
// to that peer.
func (n *Node) ownHeld(peer, topic string, from, to uint64) []*Message {
	var out []*Message
	keep := func(m *Message) {
		if m.Source == n.cfg.NodeID && m.Topic == topic && m.SourceSeq >= from && m.SourceSeq <= to {
			out = append(out, m)
		}
	}
	if t := n.topics.get(topic); t != nil {
		for i := 0; i < t.ring.len(); i++ {
			keep(t.ring.at(i))
		}
	}
	if m := n.retained.byTopic[topic]; m != nil {
		keep(m) // our retained value, which the ring may have let go
	}
	n.eachOwed(peer, func(o outgoing) {
		if !o.syncOnly {
			keep(o.m)
		}
	})
	slices.SortFunc(out, func(a, b *Message) int { return cmpU64(a.SourceSeq, b.SourceSeq) })
	return slices.CompactFunc(out, func(a, b *Message) bool { return a.SourceSeq == b.SourceSeq })
}

// eachOwed visits every push still owed to peer: in flight, failed,
// waiting, or kept for its return.
func (n *Node) eachOwed(peer string, visit func(outgoing)) {
	if p := n.peers.get(peer); p != nil {
		l := &p.link
		for i := 0; i < l.sent.len(); i++ {
			if r := l.sent.at(i); !r.done {
				visit(r.o)
			}
		}
		for i := 0; i < l.retry.len(); i++ {
			visit(l.retry.at(i).o)
		}
		for i := 0; i < l.backlog.len(); i++ {
			visit(l.backlog.at(i))
		}
	}
	if c := n.chains[peer]; c != nil {
		for i := 0; i < c.missed.len(); i++ {
			visit(c.missed.at(i))
		}
	}
}
