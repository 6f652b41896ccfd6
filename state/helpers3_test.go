package state

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Helpers for the delivery tests: sequence numbers, rings, pause and
// resume, queues and credit, TTL, heartbeats and mesh repair.

// streamLog lists what one stream got, in order, one line per event:
//
//	info [gap missed=N] [replay]
//	msg a/x#3 p3           (also replay, retained)
//	replay-complete a/x count=3 latest=5
//	warning slow_consumer dropped=1 expired=0 depth=2/2
//	heartbeat
//	end [err=...]
func streamLog(effs []Effect, stream uint64) []string {
	var out []string
	for _, e := range effs {
		switch e := e.(type) {
		case *Deliver:
			if e.Stream == stream {
				out = append(out, outLine(e.Out))
			}
		case *EndStream:
			if e.Stream == stream {
				line := "end"
				if e.Err != nil {
					line += fmt.Sprintf(" err=%s", CodeOf(e.Err))
				}
				out = append(out, line)
			}
		}
	}
	return out
}

func outLine(o Out) string {
	switch o.Kind {
	case OutInfo:
		s := "info"
		if o.Info.GapDetected {
			s += fmt.Sprintf(" gap missed=%d", o.Info.Missed)
		}
		if o.Info.ReplayStarted {
			s += " replay"
		}
		return s
	case OutMessage, OutReplay, OutRetained:
		return fmt.Sprintf("%s %s#%d %s", o.Kind, o.Msg.Topic, o.Msg.Seq, o.Msg.Payload)
	}
	return o.String()
}

// checkLog fails the test unless stream got exactly want from effs.
func checkLog(t testing.TB, effs []Effect, stream uint64, want ...string) {
	t.Helper()
	got := streamLog(effs, stream)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stream %d got:\n  %s\nwant:\n  %s\nall effects:\n%s",
			stream, strings.Join(got, "\n  "), strings.Join(want, "\n  "), describe(effs))
	}
}

// outsOf returns the Outs stream got, in order.
func outsOf(effs []Effect, stream uint64) []Out {
	var out []Out
	for _, d := range of[*Deliver](effs) {
		if d.Stream == stream {
			out = append(out, d.Out)
		}
	}
	return out
}

// warningsOf returns the backpressure warnings stream got, in order.
func warningsOf(effs []Effect, stream uint64) []Warning {
	var out []Warning
	for _, o := range outsOf(effs, stream) {
		if o.Kind == OutWarning {
			out = append(out, *o.Warning)
		}
	}
	return out
}

// seqsOf lists the sequence numbers of the live messages stream got.
func seqsOf(effs []Effect, stream uint64) []uint64 {
	var out []uint64
	for _, o := range outsOf(effs, stream) {
		if o.Kind == OutMessage {
			out = append(out, o.Msg.Seq)
		}
	}
	return out
}

// subscribeReq opens a subscription from a full request and returns its id.
func (h *harness) subscribeReq(req *Subscribed) string {
	h.t.Helper()
	h.step(req)
	s := h.n.streams[req.Stream]
	if s == nil {
		h.t.Fatalf("subscribe %v: no subscription on stream %d:\n%s", req.Patterns, req.Stream, describe(h.effs))
	}
	return s.id
}

// grant gives stream n more credit.
func (h *harness) grant(stream uint64, n int) []Effect {
	return h.step(&CreditGranted{Stream: stream, N: n})
}

// pause pauses a subscription and returns the node's answer.
func (h *harness) pause(subID string) *CompleteUnsubscribe {
	h.t.Helper()
	h.req++
	return only[*CompleteUnsubscribe](h.t, h.step(&Unsubscribed{Req: h.req, SubID: subID, Pause: true}))
}

// pushFrom delivers envelopes as if peer had pushed them, and fails the
// test if the node refuses any.
func (h *harness) pushFrom(peer string, envs ...Envelope) []Effect {
	h.t.Helper()
	h.req++
	effs := h.step(&PushReceived{Req: h.req, From: peer + ":5671", Envs: envs})
	if a := only[*AnswerPush](h.t, effs); a.Errs != nil {
		h.t.Fatalf("push refused: %v", a.Errs)
	}
	return effs
}

// envFrom builds the envelope of source's message number seq on topic,
// stamped now. Its id depends only on (source, topic, seq).
func (h *harness) envFrom(source, topic string, seq uint64) Envelope {
	return Envelope{
		ID:          fmt.Sprintf("%s-%s-%d", source, topic, seq),
		Topic:       topic,
		Payload:     []byte(fmt.Sprintf("m%d", seq)),
		TimestampMs: h.now.WallMs,
		Source:      source,
		SourceSeq:   seq,
		PrevSeq:     seq - 1, // a source that sends us every message of the topic
	}
}

// ringSeqs lists the sequence numbers topic's replay ring holds, oldest
// first.
func (h *harness) ringSeqs(topic string) []uint64 {
	t := h.n.topics.get(topic)
	if t == nil {
		return nil
	}
	out := []uint64{}
	for i := 0; i < t.ring.len(); i++ {
		out = append(out, t.ring.at(i).Seq)
	}
	return out
}

// subStatus returns the status of one subscription, failing if unknown.
func (h *harness) subStatus(id string) SubscriptionStatus {
	h.t.Helper()
	for _, s := range h.n.Subscriptions() {
		if s.ID == id {
			return s
		}
	}
	h.t.Fatalf("subscription %s is unknown", id)
	return SubscriptionStatus{}
}

// completions maps each publish request answered in effs to its result.
func completions(effs []Effect) map[uint64]CompletePublish {
	out := map[uint64]CompletePublish{}
	for _, c := range of[*CompletePublish](effs) {
		out[c.Req] = *c
	}
	return out
}

func withTTL(ms int64) func(*Published) { return func(p *Published) { p.TTLMs = ms } }

func seqRange(from, to uint64) []uint64 {
	out := []uint64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// at moves the clock forward to exactly start+d, ticking on the way.
func (h *harness) at(start time.Duration, d time.Duration) []Effect {
	return h.advance(start + d - h.now.Mono)
}

// runUntil moves the clock to end as advance does, handing visit the
// effects of each tick while the clock still reads that tick's time.
func (h *harness) runUntil(end time.Duration, visit func([]Effect)) {
	for {
		next := h.n.NextDeadline()
		if next > end {
			break
		}
		h.setMono(next)
		visit(h.keep(h.n.Tick(h.now)))
	}
	h.setMono(end)
}
