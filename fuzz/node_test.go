package fuzz

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nexusd/nexusd/state"
)

// FuzzNodeEvents drives one node with an arbitrary sequence of events,
// valid and not: beacons, call completions (on time, late, twice, for calls
// never made), subscriptions (queue groups among them), publishes and
// pushes alone or in runs (their payloads owned, borrowed or in a lent
// frame), credits with sends reported, resumes, peers leaving and the node
// itself leaving. The node must never panic, and after every step its
// hash matches its patterns and groups, its memory stays within its caps,
// and every message the driver still holds reads as when it was handed
// out (node_frames_test.go).
func FuzzNodeEvents(f *testing.F) { fuzzNode(f, nil) }

// FuzzNodeEventsTight is FuzzNodeEvents on a node whose byte budgets are
// a few messages' worth: what it holds is shed under pressure, and frames
// lent to it soon pass the share of its budget it may view in place.
func FuzzNodeEventsTight(f *testing.F) {
	fuzzNode(f, func(c *state.Config) {
		c.BudgetBytes, c.QueueBytes, c.HeldBytes, c.PeerBacklogBytes = 16<<10, 2<<10, 1<<10, 2<<10
	})
}

func fuzzNode(f *testing.F, tune func(*state.Config)) {
	f.Add([]byte{6, 0, 1, 7, 1, 2, 1, 1, 0, 2, 0, 7, 3, 4, 8, 1, 2, 3, 9, 0, 5, 0, 40, 0})
	f.Add([]byte{1, 0, 0, 2, 0, 0, 6, 1, 2, 8, 0, 1, 1, 8, 0, 3, 2, 0, 50, 5, 1, 0, 30})
	f.Add([]byte{6, 2, 0, 11, 0, 1, 12, 0, 2, 7, 2, 3, 7, 2, 3, 0, 200, 12, 1, 2})
	f.Add([]byte{1, 1, 1, 1, 2, 2, 0, 250, 0, 250, 3, 1, 0, 250, 0, 250})
	// A subscription reporting what it sent; a run published from a lent
	// frame, then one pushed by a peer; credit and sends reported.
	f.Add([]byte{6, 0, 0x40, 16, 0x82, 63, 10, 9, 8, 5, 9, 8, 7, 17, 0x82, 50, 4, 9, 8, 7, 9, 8, 7, 0, 30, 9, 8, 7})
	f.Fuzz(func(t *testing.T, prog []byte) {
		d := newDriver(t, tune)
		for steps := 0; len(prog) > 0 && steps < 400; steps++ {
			var op byte
			op, prog = prog[0], prog[1:]
			d.run(op%20, &prog)
			d.check()
		}
	})
}

type driver struct {
	t       *testing.T
	n       *state.Node
	now     state.Instant
	fetches []*state.FetchState
	probes  []uint64
	pushes  []uint64
	resends []*state.RequestResend
	subs    []string
	streams []uint64
	nextID  uint64
	mem     shellMemory
}

var (
	peers    = []string{"p0", "p1", "p2", "p3"}
	patterns = []string{"a", "a/b", "a/+", "a/#", "#", "+/b", "b/c", "a/#/b", "", "a+"}
	topics   = []string{"a", "a/b", "a/c", "b/c", "a/b/c", "a/+", "", "\x01", "_inbox/p1/r/1", "_inbox/self/r/1"}
	replyTos = []string{"", "_inbox/self/r/2", "a/b", "_inbox", "_inbox/p2/r/+"}
	groups   = []string{"", "", "", "g1", "g2", ""}
)

func newDriver(t *testing.T, tune func(*state.Config)) *driver {
	cfg := state.DefaultConfig("self", "fuzz", rand.New(rand.NewPCG(1, 2)))
	cfg.MaxPatterns, cfg.MaxSubscriptions, cfg.MaxRetained, cfg.MaxTopics = 8, 6, 8, 8
	cfg.MessageBufferSize, cfg.QueueLimit, cfg.BlockedLimit, cfg.RingBytes = 8, 4, 4, 4096 // about ten small messages
	cfg.RepairHoldLimit, cfg.PeerBacklogLimit, cfg.PushWindow, cfg.MaxStreams, cfg.DedupWindow = 4, 4, 2, 6, 16
	if tune != nil {
		tune(&cfg)
	}
	n, err := state.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, n: n, now: state.Instant{Mono: time.Second, WallMs: 1_700_000_000_000}}
	d.mem.init()
	d.effects(n.Tick(d.now))
	return d
}

func take(prog *[]byte) byte {
	if len(*prog) == 0 {
		return 0
	}
	b := (*prog)[0]
	*prog = (*prog)[1:]
	return b
}

func pick[T any](xs []T, b byte) T { return xs[int(b)%len(xs)] }

func (d *driver) step(ev state.Event) { d.effects(d.n.Step(d.now, ev)) }

func (d *driver) run(op byte, prog *[]byte) {
	switch op {
	case 0: // time passes; timers fire
		d.now = d.now.At(time.Duration(take(prog)) * 20 * time.Millisecond)
		for dl := d.n.NextDeadline(); dl <= d.now.Mono; dl = d.n.NextDeadline() {
			d.effects(d.n.Tick(d.now))
		}
	case 1:
		b := take(prog)
		cluster := "fuzz"
		if b&0x80 != 0 {
			cluster = "other"
		}
		d.step(&state.BeaconReceived{Beacon: state.Beacon{Instance: pick(peers, b), Cluster: cluster,
			Addr: pick(peers, b>>2) + ":1", Hash: uint64(take(prog) % 4), Version: int32(b>>4) % 3}})
	case 2: // complete a fetch: well, badly, or one never asked for
		b := take(prog)
		call := uint64(b)
		var st *state.NodeState
		if len(d.fetches) > 0 {
			f := d.fetches[0]
			d.fetches = d.fetches[1:]
			call = f.Call
			st = &state.NodeState{Instance: f.Peer, Patterns: []string{pick(patterns, b), pick(patterns, b>>3)}}
			st.Hash = state.TopicStateHash(st.Patterns)
			if b&1 == 1 {
				st.Retained = []state.Envelope{{ID: "r", Topic: pick(topics, b), Payload: []byte{b}, Source: f.Peer, Retain: true}}
			}
		}
		if b&0x40 != 0 {
			d.step(&state.FetchCompleted{Call: call, Err: fmt.Errorf("refused")})
		} else {
			d.step(&state.FetchCompleted{Call: call, State: st})
		}
	case 3:
		call, b := uint64(take(prog)), take(prog)
		if len(d.probes) > 0 {
			call, d.probes = d.probes[0], d.probes[1:]
		}
		d.step(&state.ProbeCompleted{Call: call, Err: errIf(b&1 == 1)})
	case 4:
		call, b := uint64(take(prog)), take(prog)
		if b&5 == 4 {
			// Several taken at once, as one answer counting them does;
			// perhaps with a call that is no push's.
			k := min(int(b>>4)+1, len(d.pushes))
			calls := append([]uint64(nil), d.pushes[:k]...)
			d.pushes = d.pushes[k:]
			if b&2 != 0 {
				calls = append(calls, call)
			}
			for _, c := range calls {
				d.pushDone(c)
			}
			d.step(&state.PushesCompleted{Calls: calls})
			return
		}
		if len(d.pushes) > 0 && b&2 == 0 {
			call, d.pushes = d.pushes[0], d.pushes[1:]
		}
		d.pushDone(call)
		d.step(&state.PushCompleted{Call: call, Err: errIf(b&1 == 1)})
	case 5:
		b := take(prog)
		if len(d.resends) == 0 {
			d.step(&state.ResendCompleted{Call: uint64(b), Reply: &state.ResendReply{}})
			return
		}
		r := d.resends[0]
		d.resends = d.resends[1:]
		reply := &state.ResendReply{Instance: r.Peer, FirstAvailable: uint64(b % 5), FirstSent: uint64(b % 3)}
		for s := r.From; s <= r.To && s < r.From+4; s++ {
			reply.Msgs = append(reply.Msgs, state.Envelope{ID: fmt.Sprint(r.Peer, s), Topic: r.Topic, Source: r.Peer, SourceSeq: s, Payload: []byte{b}})
		}
		if b&0x80 != 0 {
			d.step(&state.ResendCompleted{Call: r.Call, Err: fmt.Errorf("timeout")})
		} else {
			d.step(&state.ResendCompleted{Call: r.Call, Reply: reply})
		}
	case 6:
		b, c := take(prog), take(prog)
		d.nextID++
		d.streams = append(d.streams, d.nextID)
		d.mem.reports[d.nextID] = c&0x40 != 0
		d.step(&state.Subscribed{Stream: d.nextID, Patterns: []string{pick(patterns, b), pick(patterns, c)},
			ReceiveRetained: b&1 == 1, QueueLimit: int(int8(c)) % 6, Policy: state.Policy(c % 4), Credit: int(b % 4),
			ByNumber: c&0x20 != 0, ReportsSent: c&0x40 != 0, Group: pick(groups, b>>4)})
	case 7:
		b, c := take(prog), take(prog)
		d.nextID++
		d.step(&state.Published{Req: d.nextID, Topic: pick(topics, b), Payload: make([]byte, int(c)%80),
			Retain: b&0x10 != 0, TTLMs: int64(int8(c)) * 10,
			Extras: state.ExtrasOf(state.Extras{ReplyTo: pick(replyTos, b>>5)})})
	case 8:
		b, c := take(prog), take(prog)
		d.nextID++
		env := state.Envelope{ID: fmt.Sprint("m", b%12), Topic: pick(topics, c), Payload: []byte{b},
			Source: pick(append(peers, "self"), b>>4), SourceSeq: uint64(c % 9), PrevSeq: uint64(b % 7),
			Retain: c&0x40 != 0, TTLMs: int64(c%3) * 500, SyncOnly: b&0x80 != 0, TimestampMs: d.now.WallMs - int64(b)*10}
		d.step(&state.PushReceived{Req: d.nextID, Envs: []state.Envelope{env}})
	case 9:
		b, c := take(prog), take(prog)
		if len(d.streams) > 0 {
			stream, sent := pick(d.streams, b), 0
			if d.mem.reports[stream] || c&0xc0 == 0xc0 {
				sent = d.sent(stream, int(c%8), c&0xc0 == 0xc0)
			}
			d.step(&state.CreditGranted{Stream: stream, N: int(int8(b)) % 9, Sent: sent})
		}
	case 10:
		b := take(prog)
		if len(d.streams) > 0 {
			stream := pick(d.streams, b)
			d.step(&state.StreamClosed{Stream: stream})
			d.closed(stream)
		}
	case 11:
		b := take(prog)
		d.nextID++
		d.step(&state.Unsubscribed{Req: d.nextID, SubID: d.subID(b), Pause: b&1 == 1})
	case 12:
		b, c := take(prog), take(prog)
		d.nextID++
		d.streams = append(d.streams, d.nextID)
		d.mem.reports[d.nextID] = c&0x40 != 0
		d.step(&state.Resumed{Stream: d.nextID, SubID: d.subID(b), Patterns: []string{pick(patterns, c)},
			LastSeq: map[string]uint64{pick(topics, c): uint64(b % 5)}, Mode: state.Recovery(c % 4), Credit: int(c % 5),
			ByNumber: c&0x20 != 0, ReportsSent: c&0x40 != 0})
	case 13:
		d.nextID++
		d.step(&state.StateRequested{Req: d.nextID})
	case 14:
		b := take(prog)
		d.nextID++
		d.step(&state.ResendRequested{Req: d.nextID, Source: "self", Requester: pick(peers, b), Topic: pick(topics, b),
			From: uint64(b % 4), To: uint64(b % 9)})
	case 15:
		d.step(nil)
	case 16:
		d.publishBatch(prog)
	case 17:
		d.pushBatch(prog)
	case 18: // a peer says it leaves (what was owed to it is kept a while)
		b := take(prog)
		d.step(&state.LeaveNoticed{Instance: pick(peers, b), From: pick(peers, b>>2) + ":1"})
	case 19:
		d.step(&state.Leaving{})
	}
}

func (d *driver) subID(b byte) string {
	if len(d.subs) == 0 || b&0x80 != 0 {
		return "no-such-subscription"
	}
	return pick(d.subs, b)
}

func errIf(fail bool) error {
	if fail {
		return fmt.Errorf("failed")
	}
	return nil
}

// effects records the calls to complete later and the subscription ids
// handed out, and renders every effect (text forms must not panic either).
func (d *driver) effects(effs []state.Effect) {
	for _, e := range effs {
		_ = e.String()
		switch e := e.(type) {
		case *state.FetchState:
			c := *e
			d.fetches = append(d.fetches, &c)
		case *state.Probe:
			d.probes = append(d.probes, e.Call)
		case *state.Push:
			d.pushes = append(d.pushes, e.Call)
			d.handed(0, e.Msg, e.Call)
		case *state.RequestResend:
			c := *e
			d.resends = append(d.resends, &c)
		case *state.Deliver:
			if e.Out.Kind == state.OutInfo {
				d.subs = append(d.subs, e.Out.Info.SubID)
			}
			for j := 0; j <= e.More; j++ { // a run: each of its messages
				d.handed(e.Stream, e.At(j), 0)
			}
		case *state.ReleaseFrame:
			d.releaseFrame(e)
		case *state.AnswerResend:
			for _, m := range e.Reply.Msgs {
				if err := d.checkTag(m.Payload); err != nil {
					d.t.Fatal(err)
				}
			}
		}
	}
}

func (d *driver) check() {
	if err := checkNode(d.n); err != nil {
		d.t.Fatal(err)
	}
	if err := d.checkHeld(); err != nil {
		d.t.Fatal(err)
	}
}
