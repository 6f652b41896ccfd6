package state

import (
	"fmt"
	"testing"
)

// A peer that counts one member under two patterns that both match a
// topic weighs as one member, not two: it and a peer with one member each
// get half of the group's messages.
func TestAMemberAdvertisedUnderTwoMatchingPatternsWeighsOnce(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.syncGroups("n2", nil, GroupMembers{"t/#", "w", 1}, GroupMembers{"t/x", "w", 1})
	h.syncGroups("n3", nil, GroupMembers{"t/#", "w", 1})
	got := map[string]int{}
	for i := range 6 {
		for _, p := range h.ackPushes(h.publish("t/x", fmt.Sprint(i))) {
			got[p.Peer]++
		}
	}
	if fmt.Sprint(got) != "map[n2:3 n3:3]" {
		t.Fatalf("6 messages went %v, want map[n2:3 n3:3]", got)
	}
}

// The state hash covers how many members each (pattern, group) has: a
// second member of a group changes what we advertise, so the hash changes
// and peers fetch again.
func TestASecondGroupMemberChangesTheStateHash(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.groupMember(1, "w", "t")
	one := h.n.nodeState().Hash
	h.groupMember(2, "w", "t")
	if two := h.n.nodeState().Hash; two == one {
		t.Fatalf("one member and two members hash the same (%x)", one)
	}
	if StateHash(nil, []GroupMembers{{"t", "w", 1}}) == StateHash(nil, []GroupMembers{{"t", "w", 2}}) {
		t.Fatal("StateHash ignores the member count")
	}
}

// PeerGroups says whether a peer's state was ever fetched: for a peer
// known by its beacon alone it reports nothing and false.
func TestPeerGroupsOfAPeerNeverFetchedReportsNotFetched(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	only[*FetchState](t, h.beacon("n2", "n2:5671", 9)) // never completed
	if g, ok := h.n.PeerGroups("n2"); ok || g != nil {
		t.Fatalf("PeerGroups of an unfetched peer: %v, %v; want nil, false", g, ok)
	}
	h.syncGroups("n3", nil)
	if _, ok := h.n.PeerGroups("n3"); !ok {
		t.Fatal("PeerGroups of a fetched peer with no groups reports not fetched")
	}
}

// A member gets the message as its own: the groups a peer's push named are
// not passed on to it.
func TestAGroupMemberIsNotShownTheGroupsAPushNamed(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.groupMember(1, "work", "t")
	env := h.envFrom("n2", "t", 1)
	env.Edit().QueueGroups = []string{"work"}
	effs := h.pushFrom("n2", env)
	outs := outsOf(effs, 1)
	var msgs int
	for _, o := range outs {
		if o.Kind == OutMessage {
			msgs++
			if g := o.Msg.QueueGroups(); len(g) != 0 {
				t.Fatalf("the member's message names groups %v", g)
			}
		}
	}
	if msgs != 1 {
		t.Fatalf("the member got %d messages, want 1", msgs)
	}
}

// The round robin of a group is forgotten once the group has no member
// here or on a peer, so group names that come and go do not pile up.
func TestAGroupsRoundRobinIsForgottenWithItsLastMember(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.groupMember(1, "w", "t")
	h.publish("t", "x")
	if len(h.n.groups.next) == 0 {
		t.Fatal("no round robin kept while the group has a member")
	}
	h.step(&StreamClosed{Stream: 1})
	if len(h.n.groups.next) != 0 {
		t.Fatalf("round robin kept for groups with no member: %v", h.n.groups.next)
	}
}

// A push names at most maxGroupsPerPush (64) groups that count: a 65th
// group named is not handed the message even if it has a member here.
func TestAGroupNamedBeyondTheSixtyFourthInAPushIsNotServed(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.groupMember(1, "last", "t")
	var groups []string
	for i := range maxGroupsPerPush {
		groups = append(groups, fmt.Sprint("g", i)) // no member here
	}
	env := h.envFrom("n2", "t", 1)
	env.Edit().QueueGroups = append(groups, "last")
	h.pushFrom("n2", env)
	if got := payloads(h.all, 1); len(got) != 0 {
		t.Fatalf("the member of the 65th group named got %v", got)
	}
	if got := h.n.Status().Counters.Passed["group_no_member"]; got != maxGroupsPerPush {
		t.Fatalf("group_no_member=%d, want %d", got, maxGroupsPerPush)
	}
}
