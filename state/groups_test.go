package state

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// syncGroups introduces a peer whose state holds patterns and queue groups.
func (h *harness) syncGroups(id string, patterns []string, groups ...GroupMembers) {
	h.t.Helper()
	hash := StateHash(patterns, groups)
	f := only[*FetchState](h.t, h.beacon(id, id+":5671", hash))
	h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: id, Patterns: patterns, Hash: hash, QueueGroups: groups}})
}

// groupMember opens a queue group member on stream and returns its id.
func (h *harness) groupMember(stream uint64, group string, patterns ...string) string {
	h.t.Helper()
	return h.subscribeReq(&Subscribed{Stream: stream, Patterns: patterns, Policy: PolicyDefault, Credit: 1 << 20, Group: group})
}

// ackPushes completes every push in effs, and every push those
// completions let out, and returns them all.
func (h *harness) ackPushes(effs []Effect) []*Push {
	var all []*Push
	todo := of[*Push](effs)
	for len(todo) > 0 {
		p := todo[0]
		todo = todo[1:]
		all = append(all, p)
		todo = append(todo, of[*Push](h.step(&PushCompleted{Call: p.Call}))...)
	}
	return all
}

func TestGroupNamesAreValidated(t *testing.T) {
	for _, g := range []string{strings.Repeat("g", 129), "a\x00b", "tab\there", "\xff"} {
		h := newHarness(t, "n1")
		h.start()
		end := only[*EndStream](t, h.step(&Subscribed{Stream: 1, Patterns: []string{"a"}, Credit: 1, Group: g}))
		if e, ok := end.Err.(*Error); !ok || e.Code != Invalid || !strings.Contains(e.Msg, "queue_group") {
			t.Errorf("group %q: %v, want an invalid error naming queue_group", g, end.Err)
		}
		if len(h.n.subs) != 0 || len(h.n.nodeState().QueueGroups) != 0 {
			t.Errorf("group %q: refused but kept", g)
		}
	}
	if err := ValidateGroup(strings.Repeat("é", 64)); err != nil {
		t.Errorf("128 bytes of UTF-8 refused: %v", err)
	}
}

func TestGroupIsAdvertisedWhileLiveAndHashed(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(9, 8, "other")
	plain := h.n.nodeState().Hash
	id := h.groupMember(1, "work", "jobs/#")
	st := h.n.nodeState()
	if !slices.Equal(st.Patterns, []string{"other"}) {
		t.Errorf("a member's pattern is advertised as ours: %v", st.Patterns)
	}
	if fmt.Sprint(st.QueueGroups) != "[jobs/#:work=1]" || st.Hash == plain || st.Hash != StateHash(st.Patterns, st.QueueGroups) {
		t.Fatalf("advertised %v hash %x (plain %x)", st.QueueGroups, st.Hash, plain)
	}
	h.groupMember(2, "work", "jobs/#")
	if fmt.Sprint(h.n.nodeState().QueueGroups) != "[jobs/#:work=2]" {
		t.Errorf("two members advertised as %v", h.n.nodeState().QueueGroups)
	}
	h.pause(id)
	if fmt.Sprint(h.n.nodeState().QueueGroups) != "[jobs/#:work=1]" {
		t.Errorf("a paused member still counts: %v", h.n.nodeState().QueueGroups)
	}
	h.step(&Resumed{Stream: 3, SubID: id, Credit: 8})
	if fmt.Sprint(h.n.nodeState().QueueGroups) != "[jobs/#:work=2]" {
		t.Errorf("a resumed member does not count: %v", h.n.nodeState().QueueGroups)
	}
	h.step(&StreamClosed{Stream: 2})
	h.step(&StreamClosed{Stream: 3})
	if st := h.n.nodeState(); len(st.QueueGroups) != 0 || st.Hash != plain {
		t.Errorf("no members left, still advertised %v hash %x", st.QueueGroups, st.Hash)
	}
}

// Four members on three nodes: two here, one on each of two peers, and an
// ordinary subscription here and on a third peer. Each member gets a
// quarter exactly, the ordinary ones everything, every peer one push per
// message at most.
func TestGroupSpreadsEvenlyOverLocalAndRemoteMembers(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	a := h.groupMember(1, "work", "jobs/#")
	b := h.groupMember(2, "work", "jobs/+")
	h.subscribe(3, 1<<20, "jobs/#")
	h.syncGroups("n2", nil, GroupMembers{"jobs/#", "work", 1})
	h.syncGroups("n3", []string{"jobs/x"}, GroupMembers{"jobs/#", "work", 1}, GroupMembers{"jobs/x", "work", 1})
	h.sync("n4", "jobs/#")
	const n = 10000
	got := map[string]int{}
	subs := 0
	for i := range n {
		effs := h.publish("jobs/x", fmt.Sprint(i))
		subs += only[*CompletePublish](t, effs).Result.Subscribers
		for _, d := range of[*Deliver](effs) {
			if d.Out.Kind == OutMessage {
				got[fmt.Sprint("stream", d.Stream)]++
			}
		}
		peers := map[string]bool{}
		for _, p := range h.ackPushes(effs) {
			if peers[p.Peer] {
				t.Fatalf("message %d pushed to %s twice", i, p.Peer)
			}
			peers[p.Peer] = true
			if len(p.Groups) > 0 {
				got[p.Peer]++
			}
		}
	}
	want := map[string]int{"stream1": n / 4, "stream2": n / 4, "n2": n / 4, "n3": n / 4, "stream3": n}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("spread %v, want %v", got, want)
	}
	// Per message: the ordinary subscription, n4, n3 (its ordinary
	// pattern), and the chosen member when it is here or on n2.
	if wantSubs := n*3 + n/4*3; subs != wantSubs {
		t.Errorf("subscriber_count totals %d, want %d", subs, wantSubs)
	}
	for _, id := range []string{a, b} {
		if st := h.subStatus(id); st.Delivered != n/4 {
			t.Errorf("member %s delivered %d", id, st.Delivered)
		}
	}
}

func TestGroupMemberNumbersItsShareWithoutGaps(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.groupMember(1, "work", "t")
	h.groupMember(2, "work", "t")
	for i := range 10 {
		h.publish("t", fmt.Sprint(i))
	}
	want := []uint64{1, 2, 3, 4, 5}
	if s1, s2 := seqsOf(h.all, 1), seqsOf(h.all, 2); !slices.Equal(s1, want) || !slices.Equal(s2, want) {
		t.Fatalf("member sequences %v and %v, want %v each", s1, s2, want)
	}
}

func TestGroupMembersOnlyGetWhatTheyAreChosenFor(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.groupMember(1, "work", "t")
	h.groupMember(2, "work", "t")
	h.subscribe(3, 64, "t")
	plain := h.envFrom("n2", "t", 1)
	h.pushFrom("n2", plain)
	if len(payloads(h.effs, 1))+len(payloads(h.effs, 2)) != 0 || len(payloads(h.effs, 3)) != 1 {
		t.Fatalf("a push for no group: members got %v %v, ordinary %v", payloads(h.effs, 1), payloads(h.effs, 2), payloads(h.effs, 3))
	}
	for seq := uint64(2); seq <= 5; seq++ {
		env := h.envFrom("n2", "t", seq)
		env.Edit().QueueGroups = []string{"work", "work", "other"}
		h.pushFrom("n2", env)
	}
	if p1, p2, p3 := payloads(h.all, 1), payloads(h.all, 2), payloads(h.all, 3); len(p1) != 2 || len(p2) != 2 || len(p3) != 5 {
		t.Fatalf("members got %v and %v, ordinary %v", p1, p2, p3)
	}
	if c := h.n.Status().Counters.Passed["group_no_member"]; c != 4 {
		t.Errorf("group with no member here counted %d times, want 4", c)
	}
}

func TestGroupLocalFirstPrefersAMemberHere(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.QueueGroupLocalFirst = true })
	h.start()
	h.syncGroups("n2", nil, GroupMembers{"t", "work", 3})
	h.groupMember(1, "work", "t")
	for i := range 20 {
		if len(h.ackPushes(h.publish("t", fmt.Sprint(i)))) != 0 {
			t.Fatal("pushed to a peer's member with one here")
		}
	}
	if len(payloads(h.all, 1)) != 20 {
		t.Fatalf("the local member got %d of 20", len(payloads(h.all, 1)))
	}
	h.step(&StreamClosed{Stream: 1})
	if ps := h.ackPushes(h.publish("t", "x")); len(ps) != 1 || !slices.Equal(ps[0].Groups, []string{"work"}) {
		t.Fatalf("with no member here: %v", ps)
	}
}

// The run path (a batch to one topic) chooses per message too.
func TestGroupBatchChoosesPerMessage(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.groupMember(1, "work", "t")
	h.groupMember(2, "work", "t")
	var pubs []Published
	for i := range 8 {
		pubs = append(pubs, Published{Req: uint64(i + 1), Topic: "t", Payload: []byte(fmt.Sprint(i))})
	}
	h.step(&PublishedBatch{Pubs: pubs})
	// In turn: which member is first depends on their ids.
	if got := fmt.Sprint(payloads(h.all, 1), payloads(h.all, 2)); got != "[0 2 4 6] [1 3 5 7]" && got != "[1 3 5 7] [0 2 4 6]" {
		t.Fatalf("batch split %v", got)
	}
}

// A resend names the groups the lost push named, so a repaired message
// still reaches the group.
func TestGroupResendNamesTheGroups(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.syncGroups("n2", nil, GroupMembers{"t", "work", 1})
	h.ackPushes(h.publish("t", "x"))
	h.req++
	a := only[*AnswerResend](t, h.step(&ResendRequested{Req: h.req, Requester: "n2", Source: "n1", Topic: "t", From: 1, To: 1}))
	if len(a.Reply.Msgs) != 1 || !slices.Equal(a.Reply.Msgs[0].QueueGroups(), []string{"work"}) {
		t.Fatalf("resend reply %+v", a.Reply.Msgs)
	}
}

// When the chosen member's node dies, what was pushed to it is not chosen
// again (at most once); once it is removed, every message goes to the
// members left.
func TestGroupDeadMembersNodeIsNoLongerChosen(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.groupMember(1, "work", "t")
	h.syncGroups("n2", nil, GroupMembers{"t", "work", 1})
	if ps := h.ackPushes(h.publish("t", "a")); len(ps) != 0 {
		t.Fatal("first message not to the local member")
	}
	inflight := only[*Push](t, h.publish("t", "b"))
	if !slices.Equal(inflight.Groups, []string{"work"}) {
		t.Fatalf("push %v", inflight)
	}
	h.killPeer(t, "n2")
	for i := range 4 {
		if len(of[*Push](h.publish("t", fmt.Sprint(i)))) != 0 {
			t.Fatal("chose a dead peer's member")
		}
	}
	if got := payloads(h.all, 1); fmt.Sprint(got) != "[a 0 1 2 3]" {
		t.Fatalf("the member left got %v (b died with n2)", got)
	}
	if len(h.n.groups.remote) != 0 {
		t.Errorf("a removed peer's groups are kept: %v", h.n.groups.remote)
	}
}

// A member that resumes replays nothing: what was published while it was
// paused went to the other member, and its numbering goes on.
func TestGroupResumedMemberReplaysNothing(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	a := h.groupMember(1, "work", "t")
	h.groupMember(2, "work", "t")
	h.publish("t", "0")
	h.publish("t", "1")
	h.pause(a)
	h.publish("t", "2")
	h.publish("t", "3")
	h.step(&Resumed{Stream: 3, SubID: a, Credit: 64, Mode: RecoverReplay, LastSeq: map[string]uint64{"t": 1}})
	for _, o := range outsOf(h.effs, 3) {
		if o.Kind == OutReplay || (o.Kind == OutInfo && o.Info.GapDetected) {
			t.Fatalf("resumed member got %v", o)
		}
	}
	h.publish("t", "4")
	h.publish("t", "5")
	// One of 0 and 1 before its pause, one of 4 and 5 after: numbered
	// 1, then 2.
	if got := seqsOf(h.all, 1); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("member numbered %v before its pause, want [1]", got)
	}
	if got := seqsOf(h.all, 3); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("resumed member numbered %v, want [2]", got)
	}
	if got := payloads(h.all, 2); len(got) != 4 || !slices.Contains(got, "2") || !slices.Contains(got, "3") {
		t.Fatalf("the live member got %v, want 2 and 3 among four", got)
	}
}
