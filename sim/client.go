package sim

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/nexusd/nexusd/state"
)

// A client is one application subscription, as its stream sees it: it
// consumes what its node delivers, grants credit back (at once, or at a
// set rate for a slow consumer) and checks, event by event, that nothing
// arrives twice or out of order.
type client struct {
	w            *World
	name         string
	node         *simNode
	stream       uint64
	subID        string
	patterns     []string
	rate         float64 // credit per second; 0 = as fast as delivered
	resumeWindow time.Duration
	group        string // queue group (groups.go); "" = ordinary
	byNumber     bool   // SubOptions.ByNumber, for its streams
	endedAt      time.Duration
	rateGen      int  // bumped when the rate changes: the old grant loop stops
	owed         int  // events taken this step, to grant back
	unsent       int  // events taken and not yet reported sent (CreditGranted.Sent)
	record       bool // keep every event for scenario output

	ended, paused bool
	endReason     string
	endErr        error

	// observations
	events    []string
	live      uint64 // OutMessage events
	replayed  uint64
	retained  uint64
	dropped   uint64 // from the latest warning (totals)
	expired   uint64
	lost      uint64
	warnings  int
	infos     []state.SubscriptionInfo
	lastSrc   map[srcTopic]uint64 // last source_sequence per (source, topic)
	lastSeq   map[string]uint64   // last local sequence per topic
	jumps     uint64              // numbers skipped in local sequences
	liveGot   map[string]bool     // liveness-round messages received
	seen      map[string]int      // message id -> times delivered (when recording)
	got       map[msgKey]bool     // numbered messages delivered (live or replayed)
	owedMsgs  []msgKey            // messages the oracle says it is owed, in publish order
	learned   map[string]bool     // publisher instances that have learned its patterns
	payloads  []string            // live and replayed payloads, in order (when recording)
	startSeqs map[string]uint64   // topic numbering when the subscription started
	startLost map[string]uint64
}

type srcTopic struct{ source, topic string }

// SubOptions shape a subscription.
type SubOptions struct {
	Retained bool
	Queue    int          // 0: the node's limit
	Policy   state.Policy // state.PolicyDefault: the node's
	Rate     float64      // credit per second; 0: fast
	Credit   int          // initial credit; 0: 64 (fast) or 1 (slow)
	Stalled  bool         // never reads: no credit at all, ever
	Record   bool         // keep every event for scenario output
	// ResumeWindow asks the node to keep the subscription paused this long
	// when its stream breaks (the Go client asks for a minute).
	ResumeWindow time.Duration
	Group        string // a queue group to join (groups.go)
	// ByNumber opens the stream as a packed subscriber's is
	// (state.Subscribed.ByNumber): live messages need no rendered ids,
	// and a frame's publishes may come in runs (state.Deliver.More).
	ByNumber bool
}

// Subscribe opens a subscription named name on node i (from 1).
func (w *World) Subscribe(i int, name string, patterns []string, o SubOptions) error {
	if _, dup := w.clients[name]; dup {
		return fmt.Errorf("subscribe: a subscription named %q exists", name)
	}
	sn := w.nodes[i-1]
	if !sn.up {
		return fmt.Errorf("subscribe: node %d is down", i)
	}
	c := &client{w: w, name: name, node: sn, patterns: patterns, rate: o.Rate, record: o.Record,
		lastSrc: map[srcTopic]uint64{}, lastSeq: map[string]uint64{}, seen: map[string]int{},
		got: map[msgKey]bool{}, learned: map[string]bool{}}
	credit := o.Credit
	switch {
	case o.Stalled:
		credit = 0
	case credit == 0 && o.Rate > 0:
		credit = 1
	case credit == 0:
		credit = 64
	}
	w.clients[name] = c
	c.attach(w.newStream(sn, c))
	c.snapshotTopics()
	c.resumeWindow = o.ResumeWindow
	c.group, c.byNumber = o.Group, o.ByNumber
	w.step(sn, &state.Subscribed{Stream: c.stream, Patterns: patterns, ClientID: name,
		ReceiveRetained: o.Retained, QueueLimit: o.Queue, Policy: o.Policy, Credit: credit, ResumeWindow: o.ResumeWindow, Group: o.Group,
		ReportsSent: true, ByNumber: o.ByNumber})
	if c.endErr != nil {
		delete(w.clients, name)
		return c.endErr
	}
	if c.group != "" {
		w.joinedGroup(c)
	} else {
		w.learnAtSubscribe(c)
	}
	if o.Rate > 0 {
		c.scheduleSlowCredit()
	}
	return nil
}

func (w *World) newStream(sn *simNode, c *client) uint64 {
	w.streamSeq++
	sn.streams[w.streamSeq] = c
	return w.streamSeq
}

func (c *client) attach(stream uint64) {
	c.stream, c.ended, c.paused, c.endErr = stream, false, false, nil
	c.unsent = 0
}

// credit is a grant of n events on c's stream that also reports every
// event taken so far as sent: a simulated client reads each as it comes
// and keeps nothing of its message.
func (c *client) credit(n int) *state.CreditGranted {
	e := &state.CreditGranted{Stream: c.stream, N: n, Sent: c.unsent}
	c.unsent = 0
	return e
}

// snapshotTopics records the node's numbering of every topic, so the
// accounting check knows what was numbered while the subscription lived.
func (c *client) snapshotTopics() {
	c.startSeqs, c.startLost = map[string]uint64{}, map[string]uint64{}
	for _, t := range c.node.node.NumberedTopics() {
		c.startSeqs[t] = c.node.node.TopicSeq(t)
		c.startLost[t] = c.node.node.TopicLost(t)
	}
}

func (c *client) scheduleSlowCredit() {
	c.rateGen++
	gen, stream, rateGen := c.node.gen, c.stream, c.rateGen
	every := time.Duration(float64(time.Second) / c.rate)
	var grant func()
	grant = func() {
		if c.ended || c.paused || c.stream != stream || c.node.gen != gen || c.rateGen != rateGen {
			return
		}
		c.w.step(c.node, c.credit(1))
		c.w.at(c.w.now+every, grant)
	}
	c.w.at(c.w.now+every, grant)
}

// SetRate makes a subscription consume n events a second (0: as fast as
// they come).
func (w *World) SetRate(name string, rate float64) error {
	c := w.clients[name]
	if c == nil {
		return fmt.Errorf("no subscription named %q", name)
	}
	wasSlow := c.rate > 0
	c.rate = rate
	c.owed = 0
	c.rateGen++ // a running grant loop stops
	if rate > 0 && !c.ended {
		c.scheduleSlowCredit() // at the new rate from now
	}
	if rate == 0 && wasSlow && !c.ended {
		w.step(c.node, c.credit(64))
	}
	return nil
}

func (c *client) receive(w *World, o state.Out) {
	c.unsent++
	if c.rate == 0 {
		c.owed++ // granted back at the end of the step
	}
	switch o.Kind {
	case state.OutInfo:
		c.subID = o.Info.SubID
		c.infos = append(c.infos, *o.Info)
	case state.OutMessage, state.OutReplay:
		if o.Kind == state.OutMessage {
			c.live++
		} else {
			c.replayed++
		}
		c.checkOrder(w, o.Msg)
		c.checkPayload(w, o.Msg)
		if c.liveGot != nil { // the liveness round: note every id, sort them out later
			c.liveGot[o.Msg.MessageID()] = true
		}
		if c.record {
			c.payloads = append(c.payloads, payloadText(o.Msg.Payload))
		}
	case state.OutRetained:
		c.retained++
	case state.OutWarning:
		c.warnings++
		c.dropped, c.expired, c.lost = o.Warning.Dropped, o.Warning.Expired, o.Warning.Lost
	}
	if c.record {
		c.events = append(c.events, c.describe(o))
	}
}

// checkPayload: a payload is never the bytes a batch's publisher wrote
// over its frame after the step (World.PublishBatch), nor those a node
// writes over a slab it uses again (state.Config.PoisonReused): either
// means the node handed out memory it no longer owned.
func (c *client) checkPayload(w *World, m *state.Message) {
	p := m.Payload
	if len(p) > 0 && (bytes.Count(p, []byte{'!'}) == len(p) || bytes.Count(p, []byte{0xee}) == len(p)) {
		w.violate("payload", fmt.Sprintf("%s got %s#%d with payload %q: memory the node did not own", c.name, m.Topic, m.SourceSeq, p))
	}
}

// checkOrder is the per-delivery safety check: per (source, topic) the
// source's numbers and per topic the node's numbers only go up.
func (c *client) checkOrder(w *World, m *state.Message) {
	if w.opts.Keys != nil && !w.sameMesh(m.Source, c.node) {
		w.violate("outsider", fmt.Sprintf("%s on %s got %s#%d from %s, which is no member to it", c.name, c.node.name, m.Topic, m.SourceSeq, w.nameOf(m.Source)))
	}
	if m.SourceSeq > 0 {
		if key := (msgKey{m.Source, m.Topic, m.SourceSeq}); c.got[key] {
			w.violate("duplicate", fmt.Sprintf("%s got %s from %s twice", c.name, key, w.nameOf(m.Source)))
		} else {
			c.got[key] = true
		}
		k := srcTopic{m.Source, m.Topic}
		if last := c.lastSrc[k]; m.SourceSeq <= last {
			w.violate("order", fmt.Sprintf("%s got %s from %s #%d after #%d (duplicate or reordered)",
				c.name, m.Topic, w.nameOf(m.Source), m.SourceSeq, last))
		}
		c.lastSrc[k] = m.SourceSeq
	}
	last, seen := c.lastSeq[m.Topic]
	if seen && m.Seq <= last {
		w.violate("order", fmt.Sprintf("%s got %s seq %d after seq %d", c.name, m.Topic, m.Seq, last))
	}
	if seen && m.Seq > last+1 {
		c.jumps += m.Seq - last - 1
	}
	c.lastSeq[m.Topic] = m.Seq
	if c.record {
		id := m.MessageID()
		c.seen[id]++
		if c.seen[id] == 2 && m.SourceSeq == 0 {
			w.violate("duplicate", fmt.Sprintf("%s got message %s twice", c.name, id))
		}
	}
}

func (c *client) describe(o state.Out) string {
	switch o.Kind {
	case state.OutMessage, state.OutReplay, state.OutRetained:
		m := o.Msg
		s := fmt.Sprintf("%s %s %q seq=%d from=%s", o.Kind, c.w.showIDs(m.Topic), payloadText(m.Payload), m.Seq, c.w.nameOf(m.Source))
		if m.ReplyTo() != "" {
			s += " reply-to=" + c.w.showIDs(m.ReplyTo())
		}
		return s
	case state.OutInfo:
		s := "info"
		if o.Info.GapDetected {
			s += fmt.Sprintf(" gap missed=%d", o.Info.Missed)
		}
		if o.Info.ReplayStarted {
			s += " replay"
		}
		return s
	case state.OutReplayComplete:
		return fmt.Sprintf("replay-complete %s count=%d latest=%d", o.Done.Topic, o.Done.Count, o.Done.Latest)
	case state.OutWarning:
		w := o.Warning
		if w.Lost > 0 {
			return fmt.Sprintf("warning %s dropped=%d expired=%d lost=%d", w.Reason, w.Dropped, w.Expired, w.Lost)
		}
		return fmt.Sprintf("warning %s dropped=%d expired=%d", w.Reason, w.Dropped, w.Expired)
	}
	return o.Kind.String()
}

func (c *client) streamEnded(err error) {
	if c.paused {
		return
	}
	c.ended = true
	c.endErr = err
	if err != nil {
		c.endReason = err.Error()
	}
}

func (c *client) end(reason string) {
	if !c.ended {
		c.endedAt = c.w.now
	}
	c.ended = true
	c.endReason = reason
}

// Unsubscribe ends (or pauses) subscription name.
func (w *World) Unsubscribe(name string, pause bool) error {
	c := w.clients[name]
	if c == nil {
		return fmt.Errorf("no subscription named %q", name)
	}
	if c.ended {
		return fmt.Errorf("subscription %q has ended (%s)", name, c.endReason)
	}
	var err error
	sn := c.node
	w.reqSeq++
	sn.unsubs[w.reqSeq] = func(e *state.CompleteUnsubscribe) { err = e.Err }
	c.paused = pause
	w.step(sn, &state.Unsubscribed{Req: w.reqSeq, SubID: c.subID, Pause: pause})
	if err != nil {
		c.paused = false
		return err
	}
	if !pause {
		c.end("unsubscribed")
	}
	return nil
}

// Resume resumes a paused subscription on a new stream, catching up from
// the last sequence it saw per topic.
func (w *World) Resume(name string, mode state.Recovery) error {
	c := w.clients[name]
	if c == nil {
		return fmt.Errorf("no subscription named %q", name)
	}
	sn := c.node
	if !sn.up {
		return fmt.Errorf("resume: node %s is down", sn.name)
	}
	last := make(map[string]uint64, len(c.lastSeq))
	for t, s := range c.lastSeq {
		last[t] = s
	}
	c.attach(w.newStream(sn, c))
	w.step(sn, &state.Resumed{Stream: c.stream, SubID: c.subID, LastSeq: last, Mode: mode, Credit: 64, ReportsSent: true, ByNumber: c.byNumber})
	if c.endErr != nil {
		return c.endErr
	}
	if c.rate > 0 {
		c.scheduleSlowCredit()
	}
	return nil
}

// Close ends subscription name's stream from the client side.
func (w *World) Close(name string) error {
	c := w.clients[name]
	if c == nil {
		return fmt.Errorf("no subscription named %q", name)
	}
	if !c.ended && c.node.up {
		delete(c.node.streams, c.stream)
		w.step(c.node, &state.StreamClosed{Stream: c.stream})
	}
	c.end("closed")
	return nil
}

// PublishOptions shape a publish.
type PublishOptions struct {
	Retain  bool
	TTL     time.Duration
	ReplyTo string // an inbox topic a reply goes to; "" = none
}

// Publish publishes payload to topic on node i (from 1). done, if not nil,
// gets the answer (which may come later under the block policy).
func (w *World) Publish(i int, topic string, payload []byte, o PublishOptions, done func(*state.CompletePublish)) error {
	sn := w.nodes[i-1]
	if !sn.up {
		return fmt.Errorf("publish: node %d is down", i)
	}
	w.reqSeq++
	req := w.reqSeq
	var refused error
	sn.publishes[req] = func(e *state.CompletePublish) {
		refused = e.Err
		if e.Err == nil {
			w.stats.Published++
		}
		if done != nil {
			done(e)
		}
	}
	w.step(sn, &state.Published{Req: req, Topic: topic, Payload: payload, Retain: o.Retain, TTLMs: o.TTL.Milliseconds(), Extras: state.ExtrasOf(state.Extras{ReplyTo: o.ReplyTo})})
	if refused == nil {
		w.notePublished(sn, topic)
		if o.TTL > 0 {
			w.noteExpiring(sn, topic)
		}
	}
	return refused
}

// PublishBatch publishes payloads to topic on node i in one
// PublishedBatch, as a packed frame does: the payloads are borrowed from
// a frame the node gives back with ReleaseFrame, and scribbled over then
// if the node says it may be recycled, so a node that still reads one
// afterwards delivers nonsense. done sees each answer; the error is the
// first refusal.
func (w *World) PublishBatch(i int, topic string, payloads [][]byte, o PublishOptions, done func(*state.CompletePublish)) error {
	sn := w.nodes[i-1]
	if !sn.up {
		return fmt.Errorf("publish: node %d is down", i)
	}
	var frame []byte
	for _, p := range payloads {
		frame = append(frame, p...)
	}
	pubs := make([]state.Published, len(payloads))
	refused := make([]error, len(payloads))
	before := sn.node.OwnSeq(topic)
	start := 0
	for j, p := range payloads {
		w.reqSeq++
		sn.publishes[w.reqSeq] = func(e *state.CompletePublish) {
			refused[j] = e.Err
			if e.Err == nil {
				w.stats.Published++
			}
			if done != nil {
				done(e)
			}
		}
		pubs[j] = state.Published{Req: w.reqSeq, Topic: topic, Payload: frame[start : start+len(p) : start+len(p)],
			Retain: o.Retain, TTLMs: o.TTL.Milliseconds(), Extras: state.ExtrasOf(state.Extras{ReplyTo: o.ReplyTo})}
		start += len(p)
	}
	w.step(sn, &state.PublishedBatch{Pubs: pubs, Borrowed: true, Frame: &simFrame{b: frame}, FrameBytes: len(frame)})
	seq := before
	var first error
	for _, err := range refused {
		if err != nil {
			first = cmp.Or(first, err)
			continue
		}
		seq++
		w.notePublishedSeq(sn, topic, seq)
		if o.TTL > 0 {
			w.noteExpiringSeq(sn, topic, seq)
		}
	}
	return first
}

func (w *World) sortedClients() []*client {
	out := make([]*client, 0, len(w.clients))
	for _, c := range w.clients {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *client) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	return out
}

// clock is the world's time for canonical output.
func (w *World) clock() string { return fmtDur(w.now) }

// payloadText is a payload as scenario output shows it: itself, or its
// size when it is long.
func payloadText(p []byte) string {
	if len(p) > 64 {
		return fmt.Sprintf("<%d bytes>", len(p))
	}
	return string(p)
}

// Reconnect breaks subscription name's stream, as a dropped connection
// would (the node sees its stream end, no Unsubscribe), and after `after`
// the client opens it again as the Go client does: resuming by id from
// the last sequence numbers it got, or, when the node no longer knows the
// id, by its topics from them.
func (w *World) Reconnect(name string, after time.Duration) error {
	c := w.clients[name]
	switch {
	case c == nil:
		return fmt.Errorf("no subscription named %q", name)
	case c.ended || c.paused || !c.node.up:
		return fmt.Errorf("subscription %q is not attached", name)
	}
	sn, gen := c.node, c.node.gen
	delete(sn.streams, c.stream)
	c.paused = true // away: nothing arrives; its stream's end is no end
	w.step(sn, &state.StreamClosed{Stream: c.stream})
	w.stats.Reconnects++
	w.at(w.now+after, func() {
		if c.ended || sn.gen != gen || !sn.up {
			c.end("node restarted while away")
			return
		}
		c.reopen(w)
	})
	return nil
}

// reopen resumes a client away since Reconnect: by id, else by topics.
func (c *client) reopen(w *World) {
	last := make(map[string]uint64, len(c.lastSeq))
	for t, s := range c.lastSeq {
		last[t] = s
	}
	c.attach(w.newStream(c.node, c))
	w.step(c.node, &state.Resumed{Stream: c.stream, SubID: c.subID, LastSeq: last, Mode: state.RecoverReplay, Credit: 64, ReportsSent: true, ByNumber: c.byNumber})
	if state.CodeOf(c.endErr) == state.NotFound {
		// The node ended the subscription with its stream (no resume
		// window, or it ran out): the one opened by topics is new, owed
		// what is published once its publishers have learned it, and
		// what went by meanwhile was never promised.
		c.owedMsgs = slices.DeleteFunc(c.owedMsgs, func(k msgKey) bool { return !c.got[k] })
		clear(c.learned)
		c.attach(w.newStream(c.node, c))
		w.step(c.node, &state.Resumed{Stream: c.stream, Patterns: c.patterns, LastSeq: last, Mode: state.RecoverReplay,
			Credit: 64, ClientID: c.name, Policy: state.PolicyDefault, ResumeWindow: c.resumeWindow, ReportsSent: true})
		w.learnAtSubscribe(c)
	}
	if c.rate > 0 && !c.ended {
		c.scheduleSlowCredit()
	}
}

// simFrame is a batch's frame, lent to the node until it gives it back.
type simFrame struct {
	b        []byte
	released bool
}

// releaseFrame takes a frame back from sn's node: once, and scribbled
// over when the node says nothing reads it any longer.
func (w *World) releaseFrame(sn *simNode, e *state.ReleaseFrame) {
	f, ok := e.Frame.(*simFrame)
	switch {
	case !ok:
		w.violate("frames", fmt.Sprintf("%s gave back a frame it was never lent: %T", sn.name, e.Frame))
	case f.released:
		w.violate("frames", fmt.Sprintf("%s gave back a frame twice", sn.name))
	default:
		f.released = true
		if e.Recycle && len(f.b) > 0 {
			f.b[0] = '!' // and so on, a copy at a time: a gigabyte of frames is quick
			for k := 1; k < len(f.b); k *= 2 {
				copy(f.b[k:], f.b[:k])
			}
		}
	}
}
