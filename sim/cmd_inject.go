package sim

import (
	"fmt"
	"strconv"

	"github.com/nexusd/nexusd/state"
)

// inject node=I from=J topic=T seq=N [prev=N] [payload=TEXT] [retain]
// [timestamp=MS]: hand node I a push that claims to come from node J's
// current instance, with J's numbering, although J never published it: what
// a buggy or restarted member could send. The timestamp defaults to J's
// clock. Prints how node I answered the push.
func cmdInject(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	fromText, err := a.need("from")
	if err != nil {
		return "", err
	}
	j, err := s.nodeNum(a.cmd, fromText)
	if err != nil {
		return "", err
	}
	topic, err := a.need("topic")
	if err != nil {
		return "", err
	}
	seq, err := a.uint("seq", 0)
	if err != nil || seq == 0 {
		return "", fmt.Errorf("inject: seq= must be a positive number")
	}
	prev, err := a.uint("prev", 0)
	if err != nil {
		return "", err
	}
	from := s.w.nodes[j-1]
	ts, err := a.uint("timestamp", uint64(s.w.instant(from).WallMs))
	if err != nil || ts > 1<<63-1 {
		return "", fmt.Errorf("inject: timestamp= must be a Unix time in milliseconds")
	}
	s.injected++
	env := state.Envelope{
		ID: fmt.Sprintf("injected-%d", s.injected), Topic: topic, Payload: []byte(a.str("payload", "injected")),
		TimestampMs: int64(ts), Source: from.id, Retain: a.has("retain"), SourceSeq: seq, PrevSeq: prev,
	}
	return s.w.Inject(i, from, env), nil
}

func (a *args) uint(key string, def uint64) (uint64, error) {
	v := a.str(key, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %s=%q is not a whole number", a.cmd, key, v)
	}
	return n, nil
}

// Inject hands node i a push with env from sn's address, as if sn had
// pushed it, and says how node i answered.
func (w *World) Inject(i int, sn *simNode, env state.Envelope) string {
	target := w.nodes[i-1]
	if !target.up {
		return fmt.Sprintf("n%d is down", i)
	}
	if w.now < target.pausedUntil {
		return fmt.Sprintf("n%d is paused", i)
	}
	w.reqSeq++
	w.injectReq, w.injectAnswer = w.reqSeq, nil
	w.step(target, &state.PushReceived{Req: w.reqSeq, From: sn.addr, Envs: []state.Envelope{env}})
	w.injectReq = 0
	switch a := w.injectAnswer; {
	case a == nil:
		return "no answer"
	case len(a.Errs) > 0 && a.Errs[0] != nil:
		return "refused: " + a.Errs[0].Error()
	}
	return "ok"
}
