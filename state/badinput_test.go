package state

import (
	"fmt"
	"strings"
	"testing"
)

// fingerprint is everything observable about a node except its counters.
func fingerprint(n *Node) string {
	st := n.Status()
	st.Counters = Counters{}
	return fmt.Sprintf("%+v\n%+v\n%+v\n%v", st, n.Peers(), n.Subscriptions(), n.Patterns())
}

func totalRejected(n *Node) uint64 {
	var sum uint64
	for _, v := range n.Status().Counters.Rejected {
		sum += v
	}
	return sum
}

func TestBadInputIsRefusedCountedAndChangesNothing(t *testing.T) {
	big := make([]byte, 1<<20+1)
	for _, tc := range []struct {
		name  string
		ev    Event
		code  Code   // the error code an answering effect must carry; 0: dropped silently
		label string // the rejection counter that must move
	}{
		{"wildcard publish", &Published{Req: 1, Topic: "a/+"}, Invalid, reasonBadTopic},
		{"empty topic", &Published{Req: 1, Topic: ""}, Invalid, reasonBadTopic},
		{"long topic", &Published{Req: 1, Topic: strings.Repeat("x", 300)}, Invalid, reasonBadTopic},
		{"control char topic", &Published{Req: 1, Topic: "a\x01"}, Invalid, reasonBadTopic},
		{"oversized payload", &Published{Req: 1, Topic: "a", Payload: big}, Invalid, reasonPayloadSize},
		{"negative ttl", &Published{Req: 1, Topic: "a", TTLMs: -1}, Invalid, reasonBadArgument},
		{"content type not UTF-8", &Published{Req: 1, Topic: "a", Extras: ExtrasOf(Extras{ContentType: "a\xffb"})}, Invalid, reasonBadArgument},
		{"correlation id not UTF-8", &Published{Req: 1, Topic: "a", Extras: ExtrasOf(Extras{Correlation: "\xc3"})}, Invalid, reasonBadArgument},
		{"bad pattern", &Subscribed{Stream: 7, Patterns: []string{"a/#/b"}, Policy: PolicyDefault}, Invalid, reasonBadTopic},
		{"no patterns", &Subscribed{Stream: 7, Policy: PolicyDefault}, Invalid, reasonBadArgument},
		{"stream zero", &Subscribed{Stream: 0, Patterns: []string{"a"}, Policy: PolicyDefault}, Invalid, reasonBadArgument},
		{"stream in use", &Subscribed{Stream: 1, Patterns: []string{"b"}, Policy: PolicyDefault}, Invalid, reasonBadArgument},
		{"negative queue", &Subscribed{Stream: 7, Patterns: []string{"a"}, QueueLimit: -1, Policy: PolicyDefault}, Invalid, reasonBadArgument},
		{"unknown policy", &Subscribed{Stream: 7, Patterns: []string{"a"}, Policy: 9}, Invalid, reasonBadArgument},
		{"unknown unsubscribe", &Unsubscribed{Req: 1, SubID: "nope"}, NotFound, reasonUnknownSub},
		{"unknown resume", &Resumed{Stream: 7, SubID: "nope", Mode: RecoverReplay}, NotFound, reasonUnknownSub},
		{"bad resume mode", &Resumed{Stream: 7, SubID: "nope", Mode: 9}, Invalid, reasonBadArgument},
		{"foreign cluster beacon", &BeaconReceived{Beacon: Beacon{Instance: "x", Cluster: "other", Addr: "x:1", Version: 1}}, 0, reasonForeignCluster},
		{"beacon without id", &BeaconReceived{Beacon: Beacon{Cluster: "test", Addr: "x:1", Version: 1}}, 0, reasonBadBeacon},
		{"beacon without address", &BeaconReceived{Beacon: Beacon{Instance: "x", Cluster: "test", Version: 1}}, 0, reasonBadBeacon},
		{"beacon version 0", &BeaconReceived{Beacon: Beacon{Instance: "x", Cluster: "test", Addr: "x:1"}}, 0, reasonBadBeacon},
		{"beacon huge id", &BeaconReceived{Beacon: Beacon{Instance: strings.Repeat("x", 100), Cluster: "test", Addr: "x:1", Version: 1}}, 0, reasonBadBeacon},
		{"push bad topic", &PushReceived{Req: 1, Envs: []Envelope{{ID: "m", Topic: "a/#", Source: "n2"}}}, Invalid, reasonBadEnvelope},
		{"push empty topic", &PushReceived{Req: 1, Envs: []Envelope{{ID: "m", Source: "n2"}}}, Invalid, reasonBadEnvelope},
		{"push no id", &PushReceived{Req: 1, Envs: []Envelope{{Topic: "a", Source: "n2"}}}, Invalid, reasonBadEnvelope},
		{"push no source", &PushReceived{Req: 1, Envs: []Envelope{{ID: "m", Topic: "a"}}}, Invalid, reasonBadEnvelope},
		{"push huge payload", &PushReceived{Req: 1, Envs: []Envelope{{ID: "m", Topic: "a", Source: "n2", Payload: big}}}, Invalid, reasonBadEnvelope},
		{"push content type not UTF-8", &PushReceived{Req: 1, Envs: []Envelope{{ID: "m", Topic: "a", Source: "n2", Extras: ExtrasOf(Extras{ContentType: "\xff"})}}}, Invalid, reasonBadEnvelope},
		{"push from ourselves", &PushReceived{Req: 1, Envs: []Envelope{{ID: "m", Topic: "a", Source: "n1"}}}, Invalid, reasonOwnEnvelope},
		{"unknown fetch call", &FetchCompleted{Call: 999, State: &NodeState{Instance: "n2"}}, 0, reasonUnknownCall},
		{"unknown probe call", &ProbeCompleted{Call: 999}, 0, reasonUnknownCall},
		{"unknown push call", &PushCompleted{Call: 999}, 0, reasonUnknownCall},
		{"unknown resend call", &ResendCompleted{Call: 999}, 0, reasonUnknownCall},
		{"zero credit", &CreditGranted{Stream: 1, N: 0}, 0, reasonBadArgument},
		{"nil event", nil, 0, reasonUnknownEvent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			h.sync("n2", "a")
			h.subscribe(1, 0, "a")
			h.publish("a", "queued")
			before := fingerprint(h.n)
			rejected := h.n.Status().Counters.Rejected[tc.label]
			effs := h.step(tc.ev)
			if after := fingerprint(h.n); after != before {
				t.Fatalf("state changed:\nbefore %s\nafter  %s", before, after)
			}
			if got := h.n.Status().Counters.Rejected[tc.label]; got != rejected+1 {
				t.Fatalf("counter %s moved by %d, want 1", tc.label, got-rejected)
			}
			if tc.code == 0 {
				return
			}
			var err error
			for _, e := range effs {
				switch e := e.(type) {
				case *CompletePublish:
					err = e.Err
				case *EndStream:
					err = e.Err
				case *CompleteUnsubscribe:
					err = e.Err
				case *AnswerPush:
					if len(e.Errs) == 1 {
						err = e.Errs[0]
					}
				}
			}
			if CodeOf(err) != tc.code || err.Error() == "" {
				t.Fatalf("answer error %v (code %v), want code %v in:\n%s", err, CodeOf(err), tc.code, describe(effs))
			}
		})
	}
}

func TestOneBadEnvelopeDoesNotSpoilItsBatch(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 10, "a")
	effs := h.step(&PushReceived{Req: 1, Envs: []Envelope{
		{ID: "m1", Topic: "a", Payload: []byte("1"), Source: "n2", SourceSeq: 1},
		{ID: "m2", Topic: "a/+", Source: "n2", SourceSeq: 2},
		{ID: "m3", Topic: "a", Payload: []byte("3"), Source: "n2", SourceSeq: 2},
		{ID: "m4", Source: "n2", SourceSeq: 3}, // no topic, after a valid one
	}})
	a := only[*AnswerPush](t, effs)
	if len(a.Errs) != 4 || a.Errs[0] != nil || a.Errs[1] == nil || a.Errs[2] != nil || a.Errs[3] == nil {
		t.Fatalf("errs %v", a.Errs)
	}
	if got := fmt.Sprint(payloads(effs, 1)); got != "[1 3]" {
		t.Fatalf("delivered %s", got)
	}
}

func TestLimitsRefuseWithLimitCode(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxPatterns = 2; c.MaxSubscriptions = 2 })
	h.start()
	h.subscribe(1, 1, "a", "b")
	effs := h.step(&Subscribed{Stream: 2, Patterns: []string{"c"}, Policy: PolicyDefault, Credit: 1})
	if e := only[*EndStream](t, effs); CodeOf(e.Err) != Limit {
		t.Fatalf("third pattern: %v", e.Err)
	}
	h.subscribe(3, 1, "a") // a held pattern costs nothing
	effs = h.step(&Subscribed{Stream: 4, Patterns: []string{"b"}, Policy: PolicyDefault, Credit: 1})
	if e := only[*EndStream](t, effs); CodeOf(e.Err) != Limit {
		t.Fatalf("third subscription: %v", e.Err)
	}
}

func TestConfigValidationNamesTheSetting(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.NodeID = "" }, "NodeID"},
		{func(c *Config) { c.Rand = nil }, "Rand"},
		{func(c *Config) { c.BeaconInterval = 0 }, "BeaconInterval"},
		{func(c *Config) { c.PeerTimeout = c.SuspectAfter }, "PeerTimeout"},
		{func(c *Config) { c.QueueLimit = 0 }, "QueueLimit"},
		{func(c *Config) { c.BeaconJitter = 1 }, "BeaconJitter"},
		// A window larger than the receiver's hold would make it declare
		// lost what the source is about to push again.
		{func(c *Config) { c.PushWindow = c.RepairHoldLimit + 1 }, "PushWindow"},
	} {
		cfg := testConfig("n1")
		tc.mod(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %s, got %v", tc.want, err)
		}
	}
}

// Runs of one topic in a push check it once; a bad topic is never taken
// for checked: each of its envelopes is refused.
func TestARunOfBadTopicsIsRefusedWhole(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 10, "a/#")
	effs := h.step(&PushReceived{Req: 1, Envs: []Envelope{
		{ID: "m1", Topic: "a/+", Source: "n2", SourceSeq: 1},
		{ID: "m2", Topic: "a/+", Source: "n2", SourceSeq: 2},
	}})
	a := only[*AnswerPush](t, effs)
	if len(a.Errs) != 2 || a.Errs[0] == nil || a.Errs[1] == nil {
		t.Fatalf("answers %v, want both envelopes refused", a.Errs)
	}
}
