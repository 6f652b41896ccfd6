package state

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runBatch publishes n messages on topic in one PublishedBatch, each
// payload naming its topic and source number (checkSent reads it back).
// The payloads are borrowed from one buffer, which is scribbled over once
// the Step returns, as a shell's frame goes back to its pool; or, with
// h.lend, once the node gives it back (ReleaseFrame).
func (h *harness) runBatch(topic string, n int) []Effect {
	return h.runBatchFrame(topic, n, nil)
}

// runBatchFrame is runBatch, and with h.lend sets *lent to the frame.
func (h *harness) runBatchFrame(topic string, n int, lent **testFrame) []Effect {
	pubs := make([]Published, n)
	var frame []byte
	ends := make([]int, n)
	for i := range pubs {
		seq := h.n.OwnSeq(topic) + uint64(i) + 1
		frame = append(frame, topic+"#"+strconv.FormatUint(seq, 10)...)
		ends[i] = len(frame)
	}
	start := 0
	for i := range pubs {
		h.req++
		pubs[i] = Published{Req: h.req, Topic: topic, Payload: frame[start:ends[i]]}
		start = ends[i]
	}
	if h.lend {
		f := &testFrame{b: frame}
		if lent != nil {
			*lent = f
		}
		return h.step(&PublishedBatch{Pubs: pubs, Borrowed: true, Frame: f, FrameBytes: len(frame) + h.framePad})
	}
	effs := h.step(&PublishedBatch{Pubs: pubs, Borrowed: true})
	for i := range frame {
		frame[i] = '!'
	}
	return effs
}

// handed is the messages of the Deliver effects on stream.
func handed(effs []Effect, stream uint64) []*Message {
	var out []*Message
	for _, d := range of[*Deliver](effs) {
		if d.Stream == stream && d.Out.Msg != nil {
			out = append(out, d.Out.Msg)
		}
	}
	return out
}

// checkSent is what a shell reads of a message as it writes it out: a
// message used again too soon reads as another one, or as poison.
func checkSent(t *testing.T, m *Message) {
	t.Helper()
	if want := m.Topic + "#" + strconv.FormatUint(m.SourceSeq, 10); m.Topic == poisonTopic || string(m.Payload) != want {
		t.Fatalf("a message still handed out was used again: topic %q #%d payload %q", m.Topic, m.SourceSeq, m.Payload)
	}
}

func reusedAny(before map[*Message]bool, now []*Message) bool {
	for _, m := range now {
		if before[m] {
			return true
		}
	}
	return false
}

func setOf(ms []*Message) map[*Message]bool {
	s := make(map[*Message]bool, len(ms))
	for _, m := range ms {
		s[m] = true
	}
	return s
}

// A run's slab is used again once its messages have left the ring and
// the stream they were handed to has reported them sent, and not before.
func TestARunsSlabIsUsedAgainOnceItsMessagesAreSent(t *testing.T) {
	bothWays(t, func(t *testing.T, lend bool) {
		h := newHarness(t, "reuse", func(c *Config) { c.MessageBufferSize = 32; c.PoisonReused = true })
		h.lend = lend
		h.start()
		h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: true})
		first := handed(h.runBatch("r/t", 64), 1)
		if len(first) != 64 {
			t.Fatalf("%d of 64 handed out", len(first))
		}
		// The ring lets all of them go, but the stream has not sent them.
		second := handed(h.runBatch("r/t", 64), 1)
		if reusedAny(setOf(first), second) {
			t.Fatal("messages handed out and not reported sent were used again")
		}
		for _, m := range first {
			checkSent(t, m)
		}
		h.step(&CreditGranted{Stream: 1, N: 64, Sent: 64}) // the first 64 (and the info) ... all but the info's place
		third := handed(h.runBatch("r/t", 64), 1)
		if !reusedAny(setOf(first), third) {
			t.Fatal("slabs whose messages were all sent and out of the ring were not used again")
		}
		if reusedAny(setOf(second), third) {
			t.Fatal("messages the ring still holds, or not reported sent, were used again")
		}
		for _, m := range append(second, third...) {
			checkSent(t, m)
		}
	})
}

// A run a peer wants is used again once the peer has its pushes (and the
// ring and the local stream let them go), and not before.
func TestARunAPeerWantsIsUsedAgainOnceThePeerHasIt(t *testing.T) {
	bothWays(t, func(t *testing.T, lend bool) {
		h := newHarness(t, "reuse", func(c *Config) { c.MessageBufferSize = 32; c.PoisonReused = true })
		h.lend = lend
		h.start()
		h.sync("5f0c3d2e-8a41-4b7e-9c15-2d6f7a8b9c0d", "r/#")
		h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: true})
		calls := func(effs []Effect) (out []uint64) {
			for _, p := range of[*Push](effs) {
				out = append(out, p.Call)
			}
			return out
		}
		effs := h.runBatch("r/t", 64)
		first, pushed := handed(effs, 1), calls(effs)
		if len(first) != 64 || len(pushed) != 64 {
			t.Fatalf("%d handed out, %d pushed, want 64 each", len(first), len(pushed))
		}
		h.step(&CreditGranted{Stream: 1, N: 65, Sent: 65}) // the info and the 64: written out
		effs = h.runBatch("r/t", 64)                       // the ring lets the first go
		second := handed(effs, 1)
		pushed2 := calls(effs)
		if reusedAny(setOf(first), second) {
			t.Fatal("messages pushed and not answered were used again")
		}
		h.step(&PushesCompleted{Calls: pushed})
		h.step(&CreditGranted{Stream: 1, N: 64, Sent: 64})
		third := handed(h.runBatch("r/t", 64), 1)
		if !reusedAny(setOf(first), third) {
			t.Fatal("slabs whose pushes the peer has, out of the ring and sent, were not used again")
		}
		if reusedAny(setOf(second), third) {
			t.Fatalf("messages whose %d pushes are not answered were used again", len(pushed2))
		}
	})
}

// What is handed to a stream that does not report what it sent, or that
// a peer is to be pushed, or that a subscription holds queued, is never
// used again while anything may read it.
func TestARunsSlabIsNotUsedAgainWhileHeldUncounted(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(h *harness)
		sent  bool // the stream reports what it sent
	}{
		{"stream that does not report", func(h *harness) {
			h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20})
		}, true},
		{"a peer wants the topic", func(h *harness) {
			h.sync("5f0c3d2e-8a41-4b7e-9c15-2d6f7a8b9c0d", "r/#")
			h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: true})
		}, true},
		{"stream ended before it sent them", func(h *harness) {
			h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: true,
				ResumeWindow: 60_000_000_000})
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bothWays(t, func(t *testing.T, lend bool) {
				h := newHarness(t, "reuse", func(c *Config) { c.MessageBufferSize = 32; c.PoisonReused = true })
				h.lend = lend
				h.start()
				c.setup(h)
				first := handed(h.runBatch("r/t", 64), 1)
				if len(first) != 64 {
					t.Fatalf("%d of 64 handed out", len(first))
				}
				if c.sent {
					h.step(&CreditGranted{Stream: 1, N: 65, Sent: 65})
				} else {
					// The stream breaks while its shell still writes what
					// it was handed; a new one resumes and reports sent.
					id := h.n.streams[1].id
					h.step(&StreamClosed{Stream: 1})
					h.step(&Resumed{Stream: 2, SubID: id, Mode: RecoverNone, Credit: 1 << 20, ReportsSent: true})
					h.step(&CreditGranted{Stream: 2, N: 65, Sent: 65})
				}
				var later []*Message
				for range 4 {
					later = append(later, handed(h.runBatch("r/t", 64), 1)...)
					later = append(later, handed(h.runBatch("r/t", 64), 2)...)
				}
				if reusedAny(setOf(first), later) {
					t.Fatal("a message held where the node does not count was used again")
				}
				for _, m := range first {
					checkSent(t, m)
				}
			})
		})
	}
}

// pusher pushes runs of a peer's messages, each payload naming its topic
// and source number as runBatch's do, borrowed: now and then with a hole,
// filled by a later push, or a retained value among them.
type pusher struct {
	h     *harness
	src   string
	seqs  map[string]uint64
	holes []Envelope // left out of earlier pushes
}

func (p *pusher) push(rng *rand.Rand, topic string, k int) []Effect {
	h := p.h
	var envs []Envelope
	for range k {
		p.seqs[topic]++
		seq := p.seqs[topic]
		e := Envelope{ID: fmt.Sprintf("%s-%s-%d", p.src, topic, seq), Topic: topic,
			Payload: []byte(topic + "#" + strconv.FormatUint(seq, 10)), TimestampMs: h.now.WallMs,
			Source: p.src, SourceSeq: seq, PrevSeq: seq - 1, Retain: rng.IntN(200) == 0}
		if rng.IntN(150) == 0 {
			p.holes = append(p.holes, e)
			continue
		}
		envs = append(envs, e)
	}
	if len(p.holes) > 0 && rng.IntN(4) == 0 {
		envs, p.holes = append(envs, p.holes...), nil
	}
	// The payloads are borrowed from one frame, scribbled over once the
	// Step returns, as a shell's receive buffer goes back to its pool; or,
	// with h.lend, once the node gives it back.
	var frame []byte
	for i := range envs {
		frame = append(frame, envs[i].Payload...)
	}
	at := 0
	for i := range envs {
		k := len(envs[i].Payload)
		envs[i].Payload, at = frame[at:at+k:at+k], at+k
	}
	h.req++
	if h.lend {
		return h.step(&PushReceived{Req: h.req, From: p.src + ":5671", Envs: envs, Borrowed: true, Frame: &testFrame{b: frame}, FrameBytes: len(frame)})
	}
	effs := h.step(&PushReceived{Req: h.req, From: p.src + ":5671", Envs: envs, Borrowed: true})
	for i := range frame {
		frame[i] = '!'
	}
	return effs
}

// Runs of publishes, or of a peer's pushes, to subscriptions of every
// policy, with credit that comes late, streams that break while their
// shell still writes, and a small ring and queues: every message a shell
// writes out is the one it was handed, and slabs are used again. A
// pushed run's messages may also wait behind a hole or be retained,
// where the node does not count them (their slabs pinned: the harness
// checks invariants after every step). With a peer that wants the runs,
// the shell reads each push before the peer's answer completes it, and
// may read one that failed at any time after.
func TestSlabReuseNeverHandsOutAMessageInUse(t *testing.T) {
	for _, mode := range []string{"published", "pushed", "published to a peer"} {
		t.Run(mode, func(t *testing.T) {
			bothWays(t, func(t *testing.T, lend bool) { testSlabReuse(t, mode, lend) })
		})
	}
}

func testSlabReuse(t *testing.T, mode string, lend bool) {
	pushed, toPeer := mode == "pushed", mode == "published to a peer"
	h := newHarness(t, "reuse", func(c *Config) {
		c.MessageBufferSize = 40
		c.QueueLimit = 60
		c.BlockedLimit = 30
		c.PoisonReused = true
	})
	h.lend = lend
	h.start()
	rng := rand.New(rand.NewPCG(7, 11))
	peer := &pusher{h: h, src: "5f0c3d2e-8a41-4b7e-9c15-2d6f7a8b9c0d", seqs: map[string]uint64{}}
	switch {
	case pushed:
		h.sync(peer.src, "other/+")
	case toPeer:
		h.sync(peer.src, "t/#")
	}
	type push struct {
		call uint64
		m    *Message
	}
	var pushes []push     // handed to the link's shell, not completed
	var failed []*Message // pushes that failed: the shell may read them yet
	type stream struct {
		id      uint64
		outbox  []*Message // handed, not yet written (nil: an event without a message)
		ended   bool
		sub     string
		pattern string
	}
	var streams []*stream
	next := uint64(0)
	open := func(pattern string, policy Policy) {
		next++
		st := &stream{id: next, pattern: pattern}
		streams = append(streams, st)
		h.step(&Subscribed{Stream: st.id, Patterns: []string{pattern}, Policy: policy, Credit: 1 + rng.IntN(80), ReportsSent: true,
			ResumeWindow: 60_000_000_000})
		st.sub = h.n.streams[st.id].id
	}
	open("t/#", DropOldest)
	open("t/a", DropNewest)
	open("t/+", Block)
	seen := map[*Message]string{} // every message pointer handed out, and what it was then
	reused, reusedEarly := 0, 0
	// The peer answers probes, but for a while in the middle of the run,
	// when it dies with pushes under way and comes back (what it missed
	// kept for it meanwhile); at the end a new process replaces it.
	alive := true
	var take func(effs []Effect)
	take = func(effs []Effect) {
		for _, p := range of[*Push](effs) {
			pushes = append(pushes, push{p.Call, p.Msg})
		}
		for _, f := range of[*FetchState](effs) {
			if f.Peer == peer.src {
				take(h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: f.Peer, Patterns: []string{"t/#"}, Hash: TopicStateHash([]string{"t/#"})}}))
			}
		}
		for _, p := range of[*Probe](effs) {
			if alive {
				take(h.step(&ProbeCompleted{Call: p.Call}))
			} else {
				take(h.step(&ProbeCompleted{Call: p.Call, Err: errTest}))
			}
		}
		for _, d := range of[*Deliver](effs) {
			for _, st := range streams {
				if st.id != d.Stream {
					continue
				}
				m := d.Out.Msg
				if m != nil && m.slab != nil {
					was, ok := seen[m]
					now := fmt.Sprintf("%s#%d", m.Topic, m.SourceSeq)
					if ok && was != now {
						reused++
					}
					seen[m] = now
				} else {
					m = nil
				}
				st.outbox = append(st.outbox, m)
			}
		}
	}
	for op := range 4000 {
		alive = op < 2000 || op >= 2500
		if toPeer && op == 2000 {
			for i := 0; i < 4 && h.n.peers.len() > 0; i++ {
				take(h.advance(2 * time.Second))
			}
			if h.n.peers.len() != 0 {
				t.Fatal("the peer did not die")
			}
		}
		if toPeer && op == 2500 {
			take(h.beacon(peer.src, peer.src+":5671", TopicStateHash([]string{"t/#"})))
		}
		if op == 3000 {
			reusedEarly = reused
		}
		if toPeer && alive && len(pushes) > 0 && rng.IntN(3) == 0 {
			// The link's shell sends some pushes, then the peer answers
			// them; now and then one fails, to go again later.
			k := 1 + rng.IntN(len(pushes))
			var calls []uint64
			for _, p := range pushes[:k] {
				checkSent(t, p.m)
				if rng.IntN(200) == 0 {
					failed = append(failed, p.m)
					take(h.step(&PushCompleted{Call: p.call, Err: errTest}))
					continue
				}
				calls = append(calls, p.call)
			}
			pushes = pushes[k:]
			take(h.step(&PushesCompleted{Calls: calls}))
			for _, m := range failed {
				checkSent(t, m)
			}
			continue
		}
		switch r := rng.IntN(10); {
		case r < 5:
			topic := []string{"t/a", "t/b"}[rng.IntN(2)]
			if pushed {
				take(peer.push(rng, topic, 1+rng.IntN(90)))
			} else {
				take(h.runBatch(topic, 1+rng.IntN(90)))
			}
		case r < 9:
			// A shell writes out some of what it holds, then reports it.
			st := streams[rng.IntN(len(streams))]
			k := rng.IntN(len(st.outbox) + 1)
			for _, m := range st.outbox[:k] {
				if m != nil {
					checkSent(t, m)
				}
			}
			st.outbox = st.outbox[k:]
			if !st.ended && k > 0 {
				take(h.step(&CreditGranted{Stream: st.id, N: k, Sent: k}))
			}
		default:
			// A stream breaks; a new one resumes its subscription. The
			// old stream's shell may still be writing what it held.
			i := rng.IntN(len(streams))
			st := streams[i]
			if st.ended {
				continue
			}
			st.ended = true
			h.step(&StreamClosed{Stream: st.id})
			next++
			ns := &stream{id: next, sub: st.sub, pattern: st.pattern}
			streams = append(streams, ns)
			take(h.step(&Resumed{Stream: ns.id, SubID: st.sub, Mode: RecoverReplay, Credit: 1 + rng.IntN(80), ReportsSent: true}))
		}
		if op%500 == 0 {
			take(h.advance(h.n.cfg.BlockTimeout / 3)) // blocked publishes time out now and then
		}
	}
	for _, st := range streams {
		for _, m := range st.outbox {
			if m != nil {
				checkSent(t, m)
			}
		}
	}
	if toPeer {
		// A new process at the peer's address: the old one's pushes under
		// way, which its link's shell may still be sending, go nowhere,
		// and runs go on without a peer.
		if h.n.peers.len() != 1 || reusedEarly == 0 {
			t.Fatalf("%d peers, %d slabs used again while it lived", h.n.peers.len(), reusedEarly)
		}
		take(h.advance(3 * time.Second)) // a link resting after a failure pushes again
		take(h.runBatch("t/a", 64))      // pushes under way
		if len(pushes) == 0 {
			t.Fatal("no push under way")
		}
		take(h.beacon("0a1b2c3d-0000-4000-8000-000000000001", peer.src+":5671", 0))
		if h.n.peers.get(peer.src) != nil {
			t.Fatal("the peer was not replaced")
		}
		for i := range 20 {
			take(h.runBatch([]string{"t/a", "t/b"}[i%2], 64))
			for _, st := range streams { // written out: only the old pushes hold their slabs
				k := len(st.outbox)
				for _, m := range st.outbox {
					if m != nil {
						checkSent(t, m)
					}
				}
				st.outbox = nil
				if !st.ended && k > 0 {
					take(h.step(&CreditGranted{Stream: st.id, N: k, Sent: k}))
				}
			}
		}
		for _, p := range pushes {
			checkSent(t, p.m)
		}
	}
	for _, m := range failed {
		checkSent(t, m)
	}
	if toPeer && h.n.Status().Counters.Forwarded == 0 {
		t.Fatal("nothing was pushed to the peer")
	}
	for _, v := range h.n.RetainedValues() {
		if want := v.Topic + "#" + strconv.FormatUint(v.SourceSeq, 10); string(v.Payload) != want {
			t.Fatalf("retained value on %s reads %q, want %q", v.Topic, v.Payload, want)
		}
	}
	if reused == 0 {
		t.Fatal("no slab was used again: the test did not exercise reuse")
	}
	t.Logf("%d messages handed out, %d handed out from a slab used again", len(seen), reused)
	if !strings.Contains(poisonTopic, "reused") {
		t.Fatal("poison topic renamed")
	}
}

// A borrowed batch's payloads are copied, whatever keeps them: a run's
// slab, a run a peer wants, a lone publish and a retained value.
func TestABorrowedBatchsPayloadsAreCopied(t *testing.T) {
	h := newHarness(t, "borrow")
	h.start()
	h.sync("5f0c3d2e-8a41-4b7e-9c15-2d6f7a8b9c0d", "peer/#")
	h.step(&Subscribed{Stream: 1, Patterns: []string{"#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: true})
	frame := []byte("aaaabbbbccccdddd")
	pubs := []Published{
		{Topic: "own/t", Payload: frame[0:4]}, {Topic: "own/t", Payload: frame[4:8]}, // a run
		{Topic: "peer/t", Payload: frame[8:12]}, // alone, and a peer wants it
		{Topic: "kept/t", Payload: frame[12:16], Retain: true},
	}
	for i := range pubs {
		h.req++
		pubs[i].Req = h.req
	}
	var ms []*Message
	for _, d := range of[*Deliver](h.step(&PublishedBatch{Pubs: pubs, Borrowed: true})) {
		if d.Out.Msg != nil {
			ms = append(ms, d.Out.Msg)
		}
	}
	copy(frame, "################")
	var got []string
	for _, m := range ms {
		got = append(got, string(m.Payload))
	}
	if strings.Join(got, ",") != "aaaa,bbbb,cccc,dddd" {
		t.Fatalf("payloads after the shell's buffer was reused: %v", got)
	}
	if v := h.n.RetainedValues(); len(v) != 1 || string(v[0].Payload) != "dddd" {
		t.Fatalf("retained %v", v)
	}
}

// The copies of a borrowed run's payloads go to its slabs' buffers; only
// its tail, short of a slab, shares a chunk, sized for the tail and not
// for the run, so a tail message kept long keeps little alive. A peer
// wants the run here: its slabs are counted too.
func TestABorrowedRunsTailSharesAChunkOfItsSize(t *testing.T) {
	h := newHarness(t, "borrow")
	h.start()
	h.sync("5f0c3d2e-8a41-4b7e-9c15-2d6f7a8b9c0d", "r/#")
	const run, size = 31*runMsgsPerSlab + 8, 128
	pubs := make([]Published, run)
	frame := make([]byte, run*size)
	for i := range pubs {
		h.req++
		pubs[i] = Published{Req: h.req, Topic: "r/t", Payload: frame[i*size : (i+1)*size]}
	}
	h.step(&PublishedBatch{Pubs: pubs, Borrowed: true})
	if c := cap(h.n.chunk); c == 0 || c > chunkBytes {
		t.Fatalf("the tail of %d bytes was copied into a chunk of %d, want one of %d at most", 8*size, c, chunkBytes)
	}
}

// A shell that stops reporting what it sent cannot grow what the node
// keeps for it, nor make it release what the shell may still hold.
func TestUnreportedHandoutsStayBoundedAndHeld(t *testing.T) {
	h := newHarness(t, "reuse", func(c *Config) { c.MessageBufferSize = 32; c.PoisonReused = true })
	h.start()
	h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 30, ReportsSent: true})
	s := h.n.streams[1]
	var all []*Message
	var was []string // each as it was handed out
	for range (maxHanded / 1024) + 2 {
		for _, m := range handed(h.runBatch("r/t", 1024), 1) {
			all, was = append(all, m), append(was, string(m.Payload))
		}
	}
	if s.handedMsgs > maxHanded || s.handed.len() > maxHanded+1 {
		t.Fatalf("%d messages in %d handouts kept, want at most %d", s.handedMsgs, s.handed.len(), maxHanded)
	}
	// Reporting the oldest as sent releases those, and only those.
	h.step(&CreditGranted{Stream: 1, N: 1025, Sent: 1025}) // the info, then the first 1024
	h.runBatch("r/t", 1024)
	for i, m := range all[1024:] {
		if string(m.Payload) != was[1024+i] {
			t.Fatalf("message %d, not reported sent, reads %q, was handed out as %q", 1024+i, m.Payload, was[1024+i])
		}
	}
}

// A stream's handouts are kept a slab at a time: a run's messages handed
// out in a row are one entry per slab, not one each, and a report of
// part of them releases those holds and keeps the rest.
func TestHandoutsOfOneSlabAreOneEntry(t *testing.T) {
	h := newHarness(t, "reuse", func(c *Config) { c.PoisonReused = true })
	h.start()
	h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: true})
	s := h.n.streams[1]
	msgs := handed(h.runBatch("r/t", 2*runMsgsPerSlab), 1)
	if len(msgs) != 2*runMsgsPerSlab {
		t.Fatalf("handed out %d messages, want %d", len(msgs), 2*runMsgsPerSlab)
	}
	first, second := msgs[0].slab, msgs[runMsgsPerSlab].slab
	if first == nil || second == nil || first == second {
		t.Fatalf("the run's messages are not in two counted slabs")
	}
	// The subscription's info event, then one entry for each slab.
	if s.handed.len() != 3 || s.handedMsgs != 2*runMsgsPerSlab {
		t.Fatalf("%d handout entries for %d messages, want 3 entries for %d", s.handed.len(), s.handedMsgs, 2*runMsgsPerSlab)
	}
	holds := first.holds
	h.step(&CreditGranted{Stream: 1, N: 11, Sent: 11}) // the info, then 10 messages
	if first.holds != holds-10 || s.handedMsgs != 2*runMsgsPerSlab-10 || s.handed.len() != 2 {
		t.Fatalf("after 10 sent: slab holds %d (was %d), %d messages in %d entries; want %d, %d in 2",
			first.holds, holds, s.handedMsgs, s.handed.len(), holds-10, 2*runMsgsPerSlab-10)
	}
	h.step(&CreditGranted{Stream: 1, N: runMsgsPerSlab, Sent: runMsgsPerSlab}) // the first slab's 22, then 10 of the second
	if first.holds != holds-runMsgsPerSlab || s.handed.len() != 1 || s.handedMsgs != runMsgsPerSlab-10 {
		t.Fatalf("after the first slab's: holds %d, want %d; %d messages in %d entries, want %d in 1",
			first.holds, holds-runMsgsPerSlab, s.handedMsgs, s.handed.len(), runMsgsPerSlab-10)
	}
}

// bothWays runs f with runBatch's frames copied by the node and lent to
// it (PublishedBatch.Frame).
func bothWays(t *testing.T, f func(t *testing.T, lend bool)) {
	t.Run("copied", func(t *testing.T) { f(t, false) })
	t.Run("lent", func(t *testing.T) { f(t, true) })
}

// A slab used again for messages of a batch without a frame views no
// frame: its messages do not say they lie in the frame the slab's last
// messages came in, which went back.
func TestAReusedSlabViewsNoFrameItDidNotView(t *testing.T) {
	h := newHarness(t, "frames", func(c *Config) { c.MessageBufferSize = 32 })
	h.lend = true
	h.start()
	h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: true})
	h.runBatch("r/t", 64)
	h.runBatch("r/t", 64) // the ring lets the first 64 go
	h.step(&CreditGranted{Stream: 1, N: 1, Sent: 128})
	h.lend = false
	effs := h.runBatch("r/t", 64) // made in the slabs freed above, with no frame
	if h.n.counters.SlabsReused == 0 {
		t.Fatal("no slab reused")
	}
	for _, m := range handed(effs, 1) {
		if m.Frame() != nil {
			t.Fatalf("message #%d of a batch without a frame says it lies in one", m.SourceSeq)
		}
	}
}

// A lent frame whose messages waited in a subscription's queue goes back
// once they are handed out and sent: the queue lets go of what it held.
func TestAQueuedLentFrameGoesBackOnceSent(t *testing.T) {
	h := newHarness(t, "frames", func(c *Config) { c.MessageBufferSize = 32; c.PoisonReused = true })
	h.lend = true
	h.start()
	h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, QueueLimit: 1000, Credit: 0, ReportsSent: true})
	var frame *testFrame
	h.runBatchFrame("r/t", 64, &frame)
	h.runBatch("r/t", 64) // the ring lets the first 64 go
	h.step(&CreditGranted{Stream: 1, N: 1000})
	h.step(&CreditGranted{Stream: 1, N: 1, Sent: 128})
	if !frame.released {
		t.Fatal("a frame whose messages were queued, then sent, never went back")
	}
}
