package state

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// Benchmarks of the core's publish path. In BenchmarkPublishRun each op is
// one PublishStream frame of 1024 publishes (ns/msg is per publish); in the
// others each op is one lone Published, and deliveries/s counts messages
// handed to subscription streams. `make bench-core` runs them;
// BENCHMARKS.md records the figures.

func benchNode(b *testing.B, subs int, pattern string, extraPatterns int) *harness {
	b.Helper()
	h := newHarness(b, "bench", func(c *Config) {
		c.MaxSubscriptions = 20000
		c.MaxPatterns = 20000
	})
	h.start()
	for i := range subs {
		h.n.Step(h.now, &Subscribed{Stream: uint64(i + 1), Patterns: []string{pattern}, Policy: PolicyDefault, Credit: 1 << 30})
	}
	// Unrelated patterns installed alongside, as on a busy node.
	for i := 0; i < extraPatterns; i += maxPatternsPerSub {
		var pats []string
		for j := i; j < min(i+maxPatternsPerSub, extraPatterns); j++ {
			pats = append(pats, fmt.Sprintf("other/%d/+/x", j))
		}
		h.n.Step(h.now, &Subscribed{Stream: uint64(1_000_000 + i), Patterns: pats, Policy: PolicyDefault, Credit: 1})
	}
	return h
}

func runPublish(b *testing.B, h *harness, subs int) {
	b.Helper()
	payload := make([]byte, 128)
	ev := &Published{Topic: "bench/topic", Payload: payload}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		ev.Req = uint64(i)
		effs := h.n.Step(h.now, ev)
		if len(effs) != subs+1 {
			b.Fatalf("publish %d: %d effects, want %d", i, len(effs), subs+1)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N*subs)/elapsed.Seconds(), "deliveries/s")
}

func BenchmarkPublishLocal(b *testing.B) {
	for _, tc := range []struct {
		subs    int
		pattern string
		extra   int
	}{
		{1, "bench/topic", 0},
		{100, "bench/topic", 0},
		{1, "bench/+", 0},
		{100, "bench/#", 0},
		{1, "bench/topic", 10000},
		{100, "bench/+", 10000},
	} {
		name := fmt.Sprintf("subs=%d/pattern=%s/installed=%d", tc.subs, tc.pattern, tc.extra)
		b.Run(name, func(b *testing.B) {
			h := benchNode(b, tc.subs, tc.pattern, tc.extra)
			runPublish(b, h, tc.subs)
		})
	}
}

// BenchmarkPublishRun: frames of 1024 publishes of 128 bytes, stepped as
// one PublishedBatch, in runs of `run` consecutive messages to one topic
// (1024: the whole frame; 1: every message to another topic of 16). subs
// local subscriptions take them: with credit to spare, reporting what was
// sent after each frame as every stream of the shell does (serveStream:
// the node then uses the messages' slabs again), or (slow) with no
// credit and a full drop-oldest queue, so every message drops the oldest.
// peers synced peers want them too, and the frame's pushes are answered
// after it as the daemon answers a push stream: one PushesCompleted Step,
// timed too. by-number: the subscriptions are packed subscribers';
// packed-publisher: the frame is a PublishPacked frame as well, answered
// by number (the path of local-1to1-packed: no message id is rendered).
// ns/msg is wall time per publish; cpu-ns/msg is the process's CPU time
// (garbage collection on other threads included, time waiting for a CPU
// not), steadier on a busy machine.
func BenchmarkPublishRun(b *testing.B) {
	const frame = 1024
	for _, tc := range []struct {
		run, subs, peers int
		slow             bool
		lent             bool // the frame is lent, as the daemon's are (PublishedBatch.Frame)
		byNumber         bool // the subscriptions are packed subscribers': deliveries go in runs
		packedPub        bool // the batch is a packed publisher's (PublishedBatch.ByNumber): answered without ids
	}{
		{run: 1024, subs: 1},
		{run: 1024, subs: 1, lent: true},
		{run: 1024, subs: 1, lent: true, byNumber: true},
		{run: 1024, subs: 1, lent: true, byNumber: true, packedPub: true}, // PublishPacked to SubscribePacked
		{run: 1024, subs: 1, peers: 1},
		{run: 1024, subs: 10},
		{run: 1024, subs: 1, slow: true},
		{run: 64, subs: 1},
		{run: 1, subs: 1},
	} {
		name := fmt.Sprintf("run=%d/subs=%d/peers=%d", tc.run, tc.subs, tc.peers)
		if tc.slow {
			name += "/slow"
		}
		if tc.lent {
			name += "/lent"
		}
		if tc.byNumber {
			name += "/by-number"
		}
		if tc.packedPub {
			name += "/packed-publisher"
		}
		b.Run(name, func(b *testing.B) {
			h := newHarness(b, "bench", func(c *Config) { c.QueueLimit = 1000 })
			h.start()
			credit := 1 << 30
			if tc.slow {
				credit = 0
			}
			for i := range tc.subs {
				h.n.Step(h.now, &Subscribed{Stream: uint64(i + 1), Patterns: []string{"bench/+"}, Policy: PolicyDefault, Credit: credit, ReportsSent: !tc.slow, ByNumber: tc.byNumber})
			}
			sent := &CreditGranted{N: frame, Sent: frame}
			for i := range tc.peers {
				h.sync(fmt.Sprintf("peer%d", i), "bench/+")
			}
			pubs := make([]Published, frame)
			for i := range pubs {
				pubs[i] = Published{Topic: fmt.Sprintf("bench/%d", i/tc.run%16), Payload: make([]byte, 128)}
			}
			ev := &PublishedBatch{Pubs: pubs, ByNumber: tc.packedPub}
			if tc.lent { // given back as its slabs are let go
				ev.Borrowed, ev.Frame, ev.FrameBytes = true, pubs, 128*frame
			}
			var calls []uint64
			runs, answerRuns := 0, 0
			step := func(req uint64) {
				for i := range pubs {
					pubs[i].Req = req + uint64(i)
				}
				calls = calls[:0]
				for _, e := range h.n.Step(h.now, ev) {
					switch e := e.(type) {
					case *Push:
						calls = append(calls, e.Call)
					case *Deliver:
						runs += e.More
					case *CompletePublishRun:
						answerRuns++
					}
				}
				if len(calls) > 0 {
					h.n.Step(h.now, &PushesCompleted{Calls: calls})
				}
				if !tc.slow { // written out, as serveStream reports
					for i := range tc.subs {
						sent.Stream = uint64(i + 1)
						h.n.Step(h.now, sent)
					}
				}
			}
			for i := range 2 { // fill the rings (and the slow queue) first
				step(uint64(i * frame))
			}
			timeFrames(b, frame, 2, step)
			if len(calls) != frame*tc.peers {
				b.Fatalf("%d pushes in the last frame, want %d", len(calls), frame*tc.peers)
			}
			if tc.lent && h.n.counters.FramesViewed == 0 {
				b.Fatal("no frame was viewed")
			}
			if tc.byNumber && runs == 0 {
				b.Fatal("no delivery went in a run")
			}
			if tc.packedPub && answerRuns == 0 {
				b.Fatal("no publish was answered in a run")
			}
		})
	}
}

// timeFrames times b.N frames of frame messages, stepped by step with the
// first request id of each, after the warm frames already stepped, and
// reports CPU and wall time a message.
func timeFrames(b *testing.B, frame, warm int, step func(req uint64)) {
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for i := range b.N {
		step(uint64((i + warm) * frame))
	}
	msgs := float64(b.N * frame)
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/msgs, "cpu-ns/msg")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPublishOneSlow: N subscriptions on one topic, one of which
// never takes anything (its queue is full and drops its oldest on every
// publish); the others keep up. The slow one must not make a publish cost
// more than one more queue operation.
func BenchmarkPublishOneSlow(b *testing.B) {
	for _, subs := range []int{1, 10, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			h := newHarness(b, "bench", func(c *Config) { c.MaxSubscriptions = 2000; c.QueueLimit = 1000 })
			h.start()
			h.n.Step(h.now, &Subscribed{Stream: 1, Patterns: []string{"bench/topic"}, Policy: DropOldest, Credit: 0})
			for i := 1; i < subs; i++ {
				h.n.Step(h.now, &Subscribed{Stream: uint64(i + 1), Patterns: []string{"bench/topic"}, Policy: PolicyDefault, Credit: 1 << 30})
			}
			ev := &Published{Topic: "bench/topic", Payload: make([]byte, 128)}
			for range 2000 { // fill the slow queue first
				h.n.Step(h.now, ev)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				ev.Req = uint64(i)
				h.n.Step(h.now, ev)
			}
			b.ReportMetric(float64(b.N*(subs-1))/time.Since(start).Seconds(), "deliveries/s")
			for _, st := range h.n.Subscriptions() {
				if st.Queued > 1000 {
					b.Fatalf("subscription %s holds %d queued, limit 1000", st.ID, st.Queued)
				}
			}
		})
	}
}

// BenchmarkCheckInvariants: one full invariant walk of a node that holds a
// typical load: 100 synced peers, 8 topics with full rings (1024 messages
// each), 10 subscriptions with 100 messages queued each, and a tracked
// stream per peer and topic. The simulator runs it every 128 steps of a
// node (or twice its peer count), CheckBounds after every step; the daemon
// runs neither.
func BenchmarkCheckInvariants(b *testing.B) {
	h := newHarness(b, "bench")
	h.start()
	for p := range 100 {
		id := fmt.Sprintf("p%03d", p)
		h.n.Step(h.now, &BeaconReceived{Beacon: Beacon{Instance: id, Cluster: "test", Addr: id + ":1", Hash: 0, Version: 1}})
		for t := range 8 {
			h.n.Step(h.now, &PushReceived{Req: 1, Envs: []Envelope{{ID: fmt.Sprintf("%s-%d", id, t), Topic: fmt.Sprintf("t/%d", t),
				Payload: []byte("x"), Source: id, SourceSeq: 1, TimestampMs: h.now.WallMs}}})
		}
	}
	for s := range 10 {
		h.n.Step(h.now, &Subscribed{Stream: uint64(s + 1), Patterns: []string{"t/#"}, Policy: PolicyDefault, Credit: 0})
	}
	payload := make([]byte, 128)
	for i := range 8 * 1024 {
		h.n.Step(h.now, &Published{Req: uint64(i), Topic: fmt.Sprintf("t/%d", i%8), Payload: payload})
	}
	if err := h.n.CheckInvariants(); err != nil {
		b.Fatal(err)
	}
	b.Run("full", func(b *testing.B) {
		for range b.N {
			h.n.CheckInvariants()
		}
	})
	b.Run("bounds", func(b *testing.B) {
		for range b.N {
			h.n.CheckBounds()
		}
	})
}

// BenchmarkPushReceived: the receiving side of the mesh. Each op is one
// PushReceived of 1024 envelopes of 128 bytes from one synced peer on one
// topic, numbered on from the last; one local subscription with credit to
// spare takes them. ns/msg is per envelope. v1: 36-character ids, owned
// payloads, a stream that does not report what it sent (its messages'
// slabs are never used again). packed: as a PushPacked frame reaches the
// node, ids derived from numbers and payloads borrowed (copied by the
// node), and the daemon's packed subscriber stream, which names messages
// by number and reports each op's deliveries sent, so slabs are used
// again (slab.go).
func BenchmarkPushReceived(b *testing.B) {
	b.Run("v1", func(b *testing.B) { benchPushReceived(b, false) })
	b.Run("packed", func(b *testing.B) { benchPushReceived(b, true) })
}

func benchPushReceived(b *testing.B, packed bool) {
	const frame = 1024
	h := newHarness(b, "bench", func(c *Config) { c.QueueLimit = 1000 })
	h.start()
	const src = "5f0c3d2e-8a41-4b7e-9c15-2d6f7a8b9c0d"
	h.sync(src, "other/+")
	h.n.Step(h.now, &Subscribed{Stream: 1, Patterns: []string{"bench/+"}, Policy: PolicyDefault, Credit: 1 << 30, ReportsSent: packed, ByNumber: packed})
	envs := make([]Envelope, frame)
	ids := make([]byte, 0, 36*frame)
	payloads := make([]byte, 128*frame)
	seq := uint64(0)
	fill := func() {
		ids = ids[:0]
		for i := range envs {
			seq++
			envs[i] = Envelope{IDNum: seq, Topic: "bench/t", TimestampMs: h.now.WallMs, Source: src, SourceSeq: seq, PrevSeq: seq - 1}
			if packed {
				envs[i].Payload = payloads[128*i : 128*(i+1) : 128*(i+1)]
				continue
			}
			start := len(ids)
			ids = fmt.Appendf(ids, "%s%012x", src[:24], seq)
			envs[i].ID, envs[i].Payload = string(ids[start:]), make([]byte, 128)
		}
	}
	ev := &PushReceived{From: src + ":5671", Envs: envs, Borrowed: packed}
	sent := &CreditGranted{Stream: 1, N: frame, Sent: frame}
	step := func(req uint64) {
		ev.Req = req
		effs := h.n.Step(h.now, ev)
		delivered := 0
		for _, d := range of[*Deliver](effs) {
			delivered += d.More + 1 // a packed stream takes runs
		}
		if delivered != frame || len(of[*AnswerPush](effs)) != 1 {
			b.Fatalf("push %d: %d delivered and %d effects, want %d delivered and an answer", req, delivered, len(effs), frame)
		}
		if packed {
			h.n.Step(h.now, sent) // written out, as serveStream reports
		}
	}
	for i := range 2 {
		fill()
		step(uint64(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		fill()
		b.StartTimer()
		step(uint64(i + 2))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frame), "ns/msg")
}

// BenchmarkPublishToABusyPeer is the publishing daemon of a cross-node
// run: frames of 1024 borrowed publishes on one topic, wanted only by a
// peer whose push window is full. Each op steps a frame, which waits in
// the link's backlog, and then the peer's answer to the oldest frame in
// flight, which sends the frame waiting on.
func BenchmarkPublishToABusyPeer(b *testing.B) {
	const frame = 1024
	h := newHarness(b, "bench")
	h.start()
	h.sync("peer", "bench/+")
	pubs := make([]Published, frame)
	payloads := make([]byte, 128*frame)
	for i := range pubs {
		pubs[i] = Published{Topic: "bench/t", Payload: payloads[128*i : 128*(i+1) : 128*(i+1)]}
	}
	var inFlight []uint64
	collect := func(effs []Effect) (pushes int) {
		for _, e := range effs {
			if p, ok := e.(*Push); ok {
				inFlight = append(inFlight, p.Call)
				pushes++
			}
		}
		return pushes
	}
	answer := &PushesCompleted{}
	drained := 0 // pushes sent on by an answer, from the backlog
	step := func(req uint64) {
		for i := range pubs {
			pubs[i].Req = req + uint64(i)
		}
		if collect(h.n.Step(h.now, &PublishedBatch{Pubs: pubs, ByNumber: true, Borrowed: true})) == 0 {
			// The frame waits: the peer answers its oldest frame.
			answer.Calls = append(answer.Calls[:0], inFlight[:frame]...)
			inFlight = append(inFlight[:0], inFlight[frame:]...)
			drained += collect(h.n.Step(h.now, answer))
		}
	}
	for i := range 8 { // fill the window, then the ring
		step(uint64(i * frame))
	}
	drained = 0
	timeFrames(b, frame, 8, step)
	if drained != b.N*frame {
		b.Fatalf("%d pushes went from the backlog, want every one of %d", drained, b.N*frame)
	}
}
