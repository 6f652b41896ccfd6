package netshell

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// Queue groups cross every boundary between proto, packed records and the
// core: the subscribe request, node states, and pushes (v1 and packed).
func TestQueueGroupsSurviveEveryConversion(t *testing.T) {
	sub, err := subscribeFromProto(1, 8, &sidecarpb.SubscribeRequest{Topics: []string{"jobs/#"}, QueueGroup: "workers"})
	if err != nil || sub.Group != "workers" {
		t.Fatalf("subscribe: %+v, %v", sub, err)
	}
	for _, g := range []string{strings.Repeat("g", 129), "a\x07b", "\xff"} {
		_, err := subscribeFromProto(1, 8, &sidecarpb.SubscribeRequest{Topics: []string{"t"}, QueueGroup: g})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "queue_group") {
			t.Fatalf("group %q: %v", g, err)
		}
	}

	groups := []state.GroupMembers{{Pattern: "jobs/#", Group: "workers", Members: 2}, {Pattern: "t", Group: "x", Members: 1}}
	st := &state.NodeState{Instance: "n1", Patterns: []string{"a"}, QueueGroups: groups}
	st.Hash = state.StateHash(st.Patterns, groups)
	got := nodeStateFromProto(roundTrip(t, nodeStateToProto(st), &meshpb.NodeState{}))
	if !slices.Equal(got.QueueGroups, groups) || got.Hash != st.Hash {
		t.Fatalf("node state: %+v", got)
	}
	if plain := nodeStateFromProto(nodeStateToProto(&state.NodeState{Instance: "n1"})); plain.QueueGroups != nil {
		t.Fatalf("a state without groups read back with %v", plain.QueueGroups)
	}

	e := sampleEnvelope("jobs/build", 4)
	e.Edit().QueueGroups = []string{"workers", "x"}
	if got := envelopeFromProto(roundTrip(t, envelopeToProto(&e), &meshpb.MessageEnvelope{})); !slices.Equal(got.QueueGroups(), e.QueueGroups()) {
		t.Fatalf("v1 envelope: queue_groups %q", got.QueueGroups())
	}
	push := &state.Push{Msg: &state.Message{Envelope: sampleEnvelope("jobs/build", 4)}, Groups: []string{"workers"}}
	if env := push.Envelope(); !slices.Equal(env.QueueGroups(), []string{"workers"}) {
		t.Fatalf("push envelope: %q", env.QueueGroups())
	}

	var sent []state.Envelope
	for i, gs := range [][]string{{"workers", "x"}, nil, {"workers"}} {
		e := sampleEnvelope("jobs/build", uint64(4+i))
		e.ID = packed.DeriveID(e.Source, 0, uint64(9+i)).String()
		e.Edit().QueueGroups = gs
		sent = append(sent, e)
	}
	envs := packedPushRoundTrip(t, sent...)
	for i, want := range [][]string{{"workers", "x"}, nil, {"workers"}} {
		if !slices.Equal(envs[i].QueueGroups(), want) {
			t.Fatalf("packed record %d: queue groups %q, want %q", i, envs[i].QueueGroups(), want)
		}
	}
}

func TestQueueGroupLocalFirstFlag(t *testing.T) {
	o, err := ParseFlags([]string{"--queue-group-local-first=true"}, env(nil))
	if err != nil || !o.QueueGroupLocalFirst || !o.nodeConfig("n1", nil).QueueGroupLocalFirst {
		t.Fatalf("--queue-group-local-first: %v, %v", o.QueueGroupLocalFirst, err)
	}
	o, err = ParseFlags(nil, env(map[string]string{"NEXUSD_QUEUE_GROUP_LOCAL_FIRST": "true"}))
	if err != nil || !o.QueueGroupLocalFirst {
		t.Fatalf("from the environment: %v, %v", o.QueueGroupLocalFirst, err)
	}
	if _, err := ParseFlags([]string{"--queue-group-local-first=maybe"}, env(nil)); err == nil || !strings.Contains(err.Error(), "queue-group-local-first") {
		t.Fatalf("a bad value: %v", err)
	}
	if DefaultOptions().QueueGroupLocalFirst {
		t.Fatal("on by default")
	}
}

// Two daemons on loopback, over packed pushes and over the batch stream:
// one member of a group on each; b publishes once it knows a's member, and
// the two share the messages in turn, each numbering its share 1, 2, 3.
func TestQueueGroupAcrossTheMesh(t *testing.T) {
	for _, packedOn := range []bool{true, false} {
		t.Run("packed="+strconv.FormatBool(packedOn), func(t *testing.T) {
			a, b := startPeers(t, func(o *Options) { o.MeshPacked = packedOn })
			ctx := ctx5(t)
			req := &sidecarpb.SubscribeRequest{Topics: []string{"jobs/#"}, QueueGroup: "workers"}
			ma, err := a.app.Subscribe(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			recvUntil(t, ma, 1)
			mb, err := b.app.Subscribe(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			recvUntil(t, mb, 1)
			until(t, "b to know a's member", func() (ok bool) {
				if err := b.s.loop.query(ctx, func(l *loop) {
					g, _ := l.node.PeerGroups(a.s.ID())
					ok = len(g) == 1
				}); err != nil {
					t.Fatal(err)
				}
				return ok
			})
			for i := range 10 {
				r, err := b.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "jobs/build", Payload: []byte(strconv.Itoa(i))})
				if err != nil || r.GetSubscriberCount() != 1 {
					t.Fatalf("publish %d: %v, %v", i, r, err)
				}
			}
			seen := map[string]bool{}
			for _, m := range []sidecarpb.SidecarService_SubscribeClient{ma, mb} {
				for i, ev := range recvUntil(t, m, 5) {
					msg := ev.GetMessage()
					if msg.GetSequenceNumber() != int64(i+1) || seen[string(msg.GetPayload())] {
						t.Fatalf("member message %d: %v (seen %v)", i, msg, seen)
					}
					seen[string(msg.GetPayload())] = true
				}
			}
		})
	}
}
