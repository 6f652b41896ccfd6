package sim

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nexusd/nexusd/internal/pushstream"
	"github.com/nexusd/nexusd/state"
)

// Push paths. The daemon carries a node's pushes to a peer on ordered,
// batched gRPC streams (netshell/mesh_push.go); the simulator carries them
// the same way, with the same pushstream.Sender deciding what goes in a
// batch, what an answer completes, what a break fails and when a stream is
// overdue. Only the wire is simulated: a batch takes one network delay and
// stays in order behind the path's earlier batches (streams to one peer
// share one connection); a lost batch or answer resets the stream (the
// sender hears of it at once or at its deadline); a cut link stalls it
// until its deadline breaks it.

var (
	errStreamReset = errors.New("sim: push stream reset")
	errPeerClosed  = errors.New("sim: connection to the peer closed")
	errAckTimeout  = errors.New("sim: peer did not answer pushes within the call timeout")
)

// pushPath is the push path from one incarnation of a node to one peer
// instance at one address.
type pushPath struct {
	from    *simNode
	fromGen int
	peer    string // the instance pushed to
	addr    string
	s       pushstream.Sender[state.Envelope]
	reset   map[uint64]bool   // streams the network reset: what follows on them is lost
	recv    map[uint64]uint64 // per stream, how many messages the receiver answered
	lastArr time.Duration     // the connection keeps order
	dirty   bool
	checkAt time.Duration // the deadline check planned; 0 = none
}

type pathKey struct {
	from, gen  int
	peer, addr string
}

// pushBatch is one batch on the wire, or its answer on the way back.
type pushBatch struct {
	path     *pushPath
	stream   uint64
	envs     []state.Envelope
	sentAtMs int64  // the sender's wall clock when it sent the batch
	count    uint64 // the answer: messages answered on the stream so far
	refusals []pushstream.Refusal
}

// queuePush hands a Push effect to its path; flushPaths sends it.
func (w *World) queuePush(sn *simNode, e *state.Push) {
	k := pathKey{sn.idx, sn.gen, e.Peer, e.Addr}
	p := w.paths[k]
	if p == nil {
		p = &pushPath{from: sn, fromGen: sn.gen, peer: e.Peer, addr: e.Addr, reset: map[uint64]bool{}, recv: map[uint64]uint64{}}
		w.paths[k] = p
	}
	env := e.Envelope()
	p.s.Queue(pushstream.Item[state.Envelope]{Call: e.Call, ID: env.ID, Bytes: len(env.Payload) + len(env.Topic), V: env})
	if !p.dirty {
		p.dirty = true
		w.dirtyPaths = append(w.dirtyPaths, p)
	}
}

// flushPaths sends whatever the step queued, as the link goroutines would.
func (w *World) flushPaths() {
	for _, p := range w.dirtyPaths {
		p.dirty = false
		w.flushPath(p)
	}
	clear(w.dirtyPaths)
	w.dirtyPaths = w.dirtyPaths[:0]
}

func (w *World) flushPath(p *pushPath) {
	for p.s.Queued() > 0 {
		if p.s.Stream() == 0 {
			target := w.byAddr[p.addr]
			if target == nil || !target.up {
				w.completePushes(p, p.s.FailQueued(), errRefused, w.now+w.net.cfg.DelayMin)
				return
			}
			if !handshake(p.from, target) {
				w.completePushes(p, p.s.FailQueued(), errHandshake, w.now+w.net.cfg.DelayMin)
				return
			}
			p.s.Open() // nothing was open, so nothing fails
		}
		stream := p.s.Stream()
		batch := p.s.Next(w.now, pushstream.DefaultLimits)
		w.stats.Batches++
		w.sendBatch(p, stream, batch)
	}
	w.planDeadline(p)
}

// sendBatch puts a batch on the wire.
func (w *World) sendBatch(p *pushPath, stream uint64, batch []pushstream.Item[state.Envelope]) {
	if p.reset[stream] {
		return // the stream is gone; its sender hears of it
	}
	target := w.byAddr[p.addr]
	arr, ok := w.pathTransit(p, p.from, target, stream)
	if !ok {
		return
	}
	envs := make([]state.Envelope, len(batch))
	for i := range batch {
		envs[i] = batch[i].V
	}
	w.schedule(arr, event{kind: evPushBatch, node: target, ev: &pushBatch{path: p, stream: stream, envs: envs, sentAtMs: w.instant(p.from).WallMs}})
}

// pathTransit decides the fate of a frame of stream on p's connection,
// from a to b (a batch, or an answer back): a cut link stalls it, a loss
// resets the stream, the rest arrive in order.
func (w *World) pathTransit(p *pushPath, a, b *simNode, stream uint64) (time.Duration, bool) {
	if w.net.blocked(a.idx, b.idx) {
		// Stalled: nothing behind this frame gets past it either, even once
		// the cut heals (a connection keeps order), so no later answer can
		// complete a push that never arrived; the deadline breaks the stream.
		if stream != 0 {
			p.reset[stream] = true
		}
		return 0, false
	}
	cfg := &w.net.cfg
	if cfg.Loss > 0 && w.rng.Float64() < cfg.Loss {
		w.stats.Lost++
		w.resetStream(p, stream)
		return 0, false
	}
	d := cfg.DelayMin
	if cfg.DelayMean > 0 {
		d += time.Duration(w.rng.ExpFloat64() * float64(cfg.DelayMean))
	}
	arr := max(w.now+d, p.lastArr)
	p.lastArr = arr
	return arr, true
}

// resetStream: the network lost a frame of stream. Nothing more arrives on
// it; the sender hears of it at once half the time, else at its deadline.
func (w *World) resetStream(p *pushPath, stream uint64) {
	if stream == 0 || p.reset[stream] {
		return
	}
	p.reset[stream] = true
	if w.rng.IntN(2) == 0 {
		w.at(w.now+w.net.cfg.DelayMin, func() { w.breakPath(p, stream, errStreamReset) })
	}
}

// serveBatch: a batch reaches its target, which takes it as one push
// event and answers it in order.
func (w *World) serveBatch(target *simNode, b *pushBatch) {
	p := b.path
	switch {
	case p.reset[b.stream]:
		return
	case !target.up:
		w.at(w.now+w.net.cfg.DelayMin, func() { w.breakPath(p, b.stream, errRefused) })
		return
	case target.id != p.peer:
		// The daemon checks who answers a push stream and breaks it.
		err := fmt.Errorf("sim: %s is now instance %s", p.addr, target.id)
		w.at(w.now+w.net.cfg.DelayMin, func() { w.breakPath(p, b.stream, err) })
		return
	}
	w.reqSeq++
	target.answers[w.reqSeq] = &call{kind: cPush, batch: b}
	// The payloads arrive in one frame lent to the target, as a daemon's
	// push reader lends it gRPC's buffer, scribbled over once the node
	// gives it back for reuse: a node that still reads one then delivers
	// nonsense.
	var frame []byte
	for i := range b.envs {
		frame = append(frame, b.envs[i].Payload...)
	}
	envs := slices.Clone(b.envs)
	at := 0
	for i := range envs {
		if k := len(envs[i].Payload); k > 0 {
			envs[i].Payload, at = frame[at:at+k:at+k], at+k
		}
	}
	w.step(target, &state.PushReceived{Req: w.reqSeq, From: p.from.addr, Envs: envs, SentAtMs: b.sentAtMs, Borrowed: true,
		Frame: &simFrame{b: frame}, FrameBytes: len(frame)})
}

// answerBatch sends the target's answer to a batch back on its path.
func (w *World) answerBatch(target *simNode, b *pushBatch, a *state.AnswerPush) {
	p := b.path
	p.recv[b.stream] += uint64(len(b.envs))
	ans := &pushBatch{path: p, stream: b.stream, count: p.recv[b.stream]}
	for i, err := range a.Errs {
		if err != nil {
			ans.refusals = append(ans.refusals, pushstream.Refusal{ID: b.envs[i].ID, Retry: state.CodeOf(err) == state.Unavailable, Reason: err.Error()})
		}
	}
	if w.net.cfg.Dup > 0 && w.rng.Float64() < w.net.cfg.Dup {
		// The answer is lost and the stream resets: the sender pushes all
		// of it again, and the target sees duplicates.
		w.stats.Duplicated++
		w.resetStream(p, b.stream)
		return
	}
	if arr, ok := w.pathTransit(p, target, p.from, b.stream); ok && !p.reset[b.stream] {
		w.schedule(arr, event{kind: evPushAnswer, node: p.from, gen: p.fromGen, ev: ans})
	}
}

// takeAnswer: an answer reaches the sender. One that refuses nothing is
// one event for all it counts, as the daemon makes it
// (netshell/mesh_push.go); one that refuses is an event a push.
func (w *World) takeAnswer(b *pushBatch) {
	p := b.path
	var evs []state.Event
	if len(b.refusals) == 0 {
		calls, err := p.s.AckCalls(b.stream, b.count)
		if err != nil {
			w.breakPath(p, b.stream, err)
			return
		}
		if len(calls) > 0 {
			evs = append(evs, &state.PushesCompleted{Calls: calls})
		}
	} else {
		done, err := p.s.Ack(b.stream, b.count, b.refusals)
		if err != nil {
			w.breakPath(p, b.stream, err)
			return
		}
		for _, d := range done {
			evs = append(evs, &state.PushCompleted{Call: d.Call, Err: d.Err})
		}
	}
	for _, ev := range evs {
		w.dispatch(event{kind: evStep, node: p.from, gen: p.fromGen, ev: ev})
	}
	w.planDeadline(p)
}

// breakPath ends stream: what it had not answered, and what was queued
// behind it, fails.
func (w *World) breakPath(p *pushPath, stream uint64, err error) {
	if failed := p.s.Break(stream); len(failed) > 0 {
		w.completePushes(p, failed, err, w.now)
	}
}

func (w *World) completePushes(p *pushPath, items []pushstream.Item[state.Envelope], err error, at time.Duration) {
	for _, it := range items {
		w.schedule(max(at, w.now), event{kind: evStep, node: p.from, gen: p.fromGen, ev: &state.PushCompleted{Call: it.Call, Err: err}})
	}
}

// planDeadline makes sure the path's oldest unanswered batch is checked
// at its deadline, the sender's CallTimeout after it went out.
func (w *World) planDeadline(p *pushPath) {
	_, due := p.s.Overdue(w.now, p.from.node.Config().CallTimeout)
	if due == 0 || (p.checkAt != 0 && p.checkAt <= due) {
		return
	}
	p.checkAt = due
	w.at(due+time.Nanosecond, func() { w.checkDeadline(p) })
}

func (w *World) checkDeadline(p *pushPath) {
	p.checkAt = 0
	sn := p.from
	if sn.gen != p.fromGen || !sn.up {
		return
	}
	if w.now < sn.pausedUntil {
		// A stopped process checks no deadline until it runs again.
		p.checkAt = sn.pausedUntil
		w.at(sn.pausedUntil, func() { w.checkDeadline(p) })
		return
	}
	if late, _ := p.s.Overdue(w.now, sn.node.Config().CallTimeout); late {
		w.stats.Timeouts++
		w.breakPath(p, p.s.Stream(), errAckTimeout)
		return
	}
	w.planDeadline(p)
}

// closePaths: sn's node closed its connections to peer (removed). Every
// push still on the way fails, as the daemon's closed link fails them.
func (w *World) closePaths(sn *simNode, peer, addr string) {
	p := w.paths[pathKey{sn.idx, sn.gen, peer, addr}]
	if p == nil {
		return
	}
	delete(w.paths, pathKey{sn.idx, sn.gen, peer, addr})
	failed := p.s.Break(p.s.Stream())
	failed = append(failed, p.s.FailQueued()...)
	w.completePushes(p, failed, errPeerClosed, w.now)
}

// dropPaths forgets the paths of sn's incarnations before this one.
func (w *World) dropPaths(sn *simNode) {
	for k := range w.paths {
		if k.from == sn.idx && k.gen != sn.gen {
			delete(w.paths, k)
		}
	}
}
