package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/nexusd/nexusd/state"
)

// Carrying out effects. Beacons fan out to every node that can hear them;
// request effects become calls that reach their target after a network
// delay, are served there (by stepping the target with the matching
// request event) and answered back, or fail: refused by a crashed target,
// reset by the network, or timed out after the caller's CallTimeout.

type callKind uint8

const (
	cFetch callKind = iota + 1
	cProbe
	cPush
	cResend
)

type call struct {
	kind    callKind
	id      uint64 // the caller node's Call id
	from    *simNode
	fromGen int
	done    bool

	batch        *pushBatch // push: the batch it serves
	topic        string     // resend
	lo, hi       uint64
	expectSource string // resend: the source asked; probe: the instance probed
}

var (
	errTimeout = errors.New("sim: deadline exceeded")
	errRefused = errors.New("sim: connection refused")
	errReset   = errors.New("sim: connection reset")
)

// handle carries out what sn's node asked for.
func (w *World) handle(sn *simNode, effs []state.Effect) {
	var credited []*client
	for _, e := range effs {
		w.trace.effect(e)
		if w.opts.Trace != nil {
			w.opts.Trace(fmt.Sprintf("%s %s -> %s", fmtDur(w.now), sn.name, e))
		}
		switch e := e.(type) {
		case *state.SendBeacon:
			w.beacon(sn, e.Hash, e.Leaving)
		case *state.FetchState:
			w.startCall(sn, &call{kind: cFetch, id: e.Call}, e.Addr)
		case *state.Probe:
			w.startCall(sn, &call{kind: cProbe, id: e.Call, expectSource: e.Peer}, e.Addr)
		case *state.Push:
			w.stats.Pushes++
			if len(e.Groups) > 0 {
				w.notePushedForGroups(e)
			}
			w.queuePush(sn, e)
		case *state.RequestResend:
			w.stats.Resends++
			w.startCall(sn, &call{kind: cResend, id: e.Call, topic: e.Topic, lo: e.From, hi: e.To, expectSource: e.Peer}, e.Addr)
		case *state.AnswerState:
			w.answer(sn, e.Req, func(c *call) state.Event { return &state.FetchCompleted{Call: c.id, State: e.State} })
		case *state.AnswerPush:
			if e.Req == w.injectReq && w.injectReq != 0 {
				c := *e
				w.injectAnswer = &c
			}
			if c := sn.answers[e.Req]; c != nil && c.batch != nil {
				delete(sn.answers, e.Req)
				w.answerBatch(sn, c.batch, e)
			}
		case *state.AnswerResend:
			reply := e.Reply
			reply.Msgs = append([]state.Envelope(nil), reply.Msgs...)
			w.answer(sn, e.Req, func(c *call) state.Event { return &state.ResendCompleted{Call: c.id, Reply: &reply} })
		case *state.CompletePublish:
			if done := sn.publishes[e.Req]; done != nil {
				delete(sn.publishes, e.Req)
				done(e)
			}
		case *state.CompleteUnsubscribe:
			if done := sn.unsubs[e.Req]; done != nil {
				delete(sn.unsubs, e.Req)
				done(e)
			}
		case *state.Deliver:
			if c := sn.streams[e.Stream]; c != nil {
				owed := c.owed
				if e.More > 0 {
					w.stats.InRuns += uint64(e.More) + 1
				}
				for j := 0; j <= e.More; j++ { // a run: its messages in turn
					o := e.Out
					o.Msg = e.At(j)
					c.receive(w, o)
				}
				if c.rate == 0 && owed == 0 {
					credited = append(credited, c)
				}
			}
		case *state.EndStream:
			if c := sn.streams[e.Stream]; c != nil {
				delete(sn.streams, e.Stream)
				c.streamEnded(e.Err)
			}
		case *state.ReportGap:
			w.noteGap(sn, e)
		case *state.ReleaseFrame:
			w.releaseFrame(sn, e)
		case *state.ClosePeer:
			w.closePaths(sn, e.Peer, e.Addr)
			w.groupPeerGone(sn, e.Peer)
		}
	}
	w.flushPaths()
	for _, c := range credited {
		if !c.ended && c.stream != 0 {
			w.stepLater(w.now, sn, c.credit(c.owed))
		}
		c.owed = 0
	}
	w.reschedule(sn)
}

// beacon multicasts: one delay for the whole LAN, then each listener may
// miss it on its own.
func (w *World) beacon(sn *simNode, hash uint64, leaving bool) {
	sn.beacons++
	b := state.Beacon{Instance: sn.id, Cluster: sn.cluster, Addr: sn.addr, Hash: hash, Version: 1, WallMs: w.instant(sn).WallMs,
		Epoch: uint64(sn.gen), Counter: sn.beacons, Leaving: leaving}
	sn.lastBeacon = b
	d := w.net.cfg.DelayMin
	if w.net.cfg.DelayMean > 0 {
		d += time.Duration(w.rng.ExpFloat64() * float64(w.net.cfg.DelayMean))
	}
	w.stats.Beacons++
	w.schedule(w.now+d, event{kind: evBeacon, node: sn, gen: sn.gen, ev: b})
}

func (w *World) deliverBeacon(e event) {
	from := e.node
	b := e.ev.(state.Beacon)
	loss := w.net.cfg.McastLoss
	for _, r := range w.nodes {
		if r == from || !r.up || w.net.blocked(from.idx, r.idx) || (e.to != nil && r != e.to) {
			continue
		}
		rb, heard := w.checkKey(from, r, b)
		if !heard {
			continue
		}
		ev := &state.BeaconReceived{Beacon: rb}
		if loss > 0 && w.rng.Float64() < loss {
			w.stats.BeaconsLost++
			continue
		}
		if w.now < r.pausedUntil {
			r.deferred = append(r.deferred, event{kind: evStep, node: r, gen: r.gen, ev: ev})
			continue
		}
		w.step(r, ev)
	}
}

// startCall sends a request; a timeout is always set, so the caller hears
// back exactly once.
func (w *World) startCall(sn *simNode, c *call, addr string) {
	c.from, c.fromGen = sn, sn.gen
	w.schedule(w.now+sn.node.Config().CallTimeout, event{kind: evTimeout, call: c})
	target := w.byAddr[addr]
	if target == nil {
		w.failSoon(c, errRefused)
		return
	}
	if !handshake(sn, target) {
		w.failSoon(c, errHandshake)
		return
	}
	arr, ok := w.transit(sn, target)
	if !ok {
		if !w.net.blocked(sn.idx, target.idx) && w.rng.IntN(2) == 0 {
			w.failSoon(c, errReset) // some losses break the stream at once
		}
		return
	}
	w.schedule(arr, event{kind: evRequest, node: target, call: c})
	// Any request may arrive twice (a transport retry): pushes test the
	// receiver's duplicate filter, fetches and resends that answering
	// twice is harmless. The caller takes the first answer.
	if w.net.cfg.Dup > 0 && w.rng.Float64() < w.net.cfg.Dup {
		if arr2, ok := w.transit(sn, target); ok {
			w.stats.Duplicated++
			w.schedule(arr2, event{kind: evRequest, node: target, call: c})
		}
	}
}

// serve runs a request at its target.
func (w *World) serve(target *simNode, c *call) {
	if !target.up {
		w.failSoon(c, errRefused)
		return
	}
	switch c.kind {
	case cProbe: // the target's shell answers a health check itself, naming its instance
		var err error
		if target.id != c.expectSource {
			err = fmt.Errorf("sim: %s is now instance %s, not %s", target.addr, target.id, c.expectSource)
		}
		w.reply(target, c, &state.ProbeCompleted{Call: c.id, Err: err})
		return
	}
	w.reqSeq++
	req := w.reqSeq
	target.answers[req] = c
	switch c.kind {
	case cFetch:
		w.step(target, &state.StateRequested{Req: req})
	case cResend:
		w.step(target, &state.ResendRequested{Req: req, Source: c.expectSource, Requester: c.from.id, Topic: c.topic, From: c.lo, To: c.hi})
	}
}

// answer sends target's answer to request req back to its caller.
func (w *World) answer(target *simNode, req uint64, completion func(*call) state.Event) {
	c := target.answers[req]
	if c == nil {
		return
	}
	delete(target.answers, req)
	w.reply(target, c, completion(c))
}

func (w *World) reply(target *simNode, c *call, ev state.Event) {
	if arr, ok := w.transit(target, c.from); ok {
		w.schedule(arr, event{kind: evResponse, call: c, ev: ev})
	}
}

// failSoon fails a call after a minimal delay (a refused or reset
// connection), unless it completes first.
func (w *World) failSoon(c *call, err error) {
	w.schedule(w.now+w.net.cfg.DelayMin, event{kind: evResponse, call: c, ev: failure(c, err)})
}

func (w *World) respond(e event) {
	c := e.call
	if c.done {
		return
	}
	c.done = true
	w.dispatch(event{kind: evStep, node: c.from, gen: c.fromGen, ev: e.ev})
}

func (w *World) timeout(c *call) {
	if c.done {
		return
	}
	c.done = true
	w.stats.Timeouts++
	w.dispatch(event{kind: evStep, node: c.from, gen: c.fromGen, ev: failure(c, errTimeout)})
}

func failure(c *call, err error) state.Event {
	switch c.kind {
	case cFetch:
		return &state.FetchCompleted{Call: c.id, Err: err}
	case cProbe:
		return &state.ProbeCompleted{Call: c.id, Err: err}
	case cPush:
		return &state.PushCompleted{Call: c.id, Err: err}
	}
	return &state.ResendCompleted{Call: c.id, Err: err}
}
