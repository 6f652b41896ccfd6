package e2e

import (
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestRequestReplyThroughAnInbox: three daemons. A requester on a listens
// on its inbox, _inbox/<a's instance>/..., and publishes a request with
// that reply_to; the responder on b gets it with its reply_to and
// publishes the reply there. The reply reaches a at once, pushed straight
// to the daemon the inbox names, and never c, whose subscription to
// everything (#) b knows of. A request to a topic nobody wants reaches no
// one, and an inbox naming no daemon goes nowhere.
func TestRequestReplyThroughAnInbox(t *testing.T) {
	testnet.Require(t)
	cluster, port := newCluster(t)
	nodes := launchMesh(t,
		testnet.Config{Name: "a", Cluster: cluster, McastPort: port},
		testnet.Config{Name: "b", Cluster: cluster, McastPort: port},
		testnet.Config{Name: "c", Cluster: cluster, McastPort: port})
	a, b, c := nodes[0], nodes[1], nodes[2]
	responder := b.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"svc/time"}})
	responder.info()
	snoop := c.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"#"}})
	snoop.info()
	a.waitRoute(b, "svc/time")
	a.waitRoute(c, "#")
	b.waitRoute(c, "#")

	if r := a.mustPublish("svc/none", "?"); r.GetSubscriberCount() != 1 { // c's #
		t.Fatalf("publish to svc/none reached %d, want c alone", r.GetSubscriberCount())
	}
	snoop.messages(1, 5*time.Second)

	inbox := "_inbox/" + a.id + "/req1/"
	replies := a.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{inbox + "#"}})
	replies.info()
	ctx, cancel := a.ctx(5 * time.Second)
	defer cancel()
	r, err := a.c.Publish(ctx, &sidecarpb.PublishRequest{Topic: "svc/time", Payload: []byte("what time?"),
		ReplyTo: inbox + "1", CorrelationId: "q1"})
	if err != nil || r.GetSubscriberCount() != 2 { // b, and c's #
		t.Fatalf("request: %v, %v; want 2 subscribers", r, err)
	}
	req := responder.messages(1, 5*time.Second)[0]
	if req.GetReplyTo() != inbox+"1" || req.GetCorrelationId() != "q1" {
		t.Fatalf("the responder got %v", req)
	}
	if m := snoop.messages(1, 5*time.Second)[0]; m.GetTopic() != "svc/time" || m.GetReplyTo() != inbox+"1" {
		t.Fatalf("c got %v", m)
	}

	bctx, bcancel := b.ctx(5 * time.Second)
	defer bcancel()
	r, err = b.c.Publish(bctx, &sidecarpb.PublishRequest{Topic: req.GetReplyTo(), Payload: []byte("noon"), CorrelationId: req.GetCorrelationId()})
	if err != nil || r.GetSubscriberCount() != 1 {
		t.Fatalf("reply: %v, %v; want 1 subscriber (a)", r, err)
	}
	if m := replies.messages(1, 5*time.Second)[0]; string(m.GetPayload()) != "noon" || m.GetCorrelationId() != "q1" || m.GetSourceNodeId() != b.id {
		t.Fatalf("a got %v", m)
	}

	// Nothing of the reply reached c: a marker from b is the next thing
	// c's # subscription gets.
	b.mustPublish("marker", "after the reply")
	if m := snoop.messages(1, 5*time.Second)[0]; m.GetTopic() != "marker" {
		t.Fatalf("c got %v, want the marker", m)
	}
	if r := b.mustPublish("_inbox/00000000-0000-4000-8000-000000000000/x/1", "lost"); r.GetSubscriberCount() != 0 {
		t.Fatalf("a reply to an unknown daemon reached %d", r.GetSubscriberCount())
	}
}
