package state

import (
	"strings"
	"testing"
)

// Inbox topics (inbox.go): a message to _inbox/<id>/... goes to the daemon
// <id> names and nowhere else, whatever the routes say.

// inboxNode is n1 with two peers: p2, known from its beacon alone (its
// state never fetched, so no route to it), and p3, synced and wanting
// everything; and a local subscription to everything on stream 1.
func inboxNode(t *testing.T) *harness {
	h := newHarness(t, "n1")
	h.start()
	h.beacon("p2", "p2:5671", 0)
	h.sync("p3", "#")
	h.subscribe(1, 100, "#")
	return h
}

func pushesTo(effs []Effect) map[string][]*Push {
	out := map[string][]*Push{}
	for _, p := range of[*Push](effs) {
		out[p.Peer] = append(out[p.Peer], p)
	}
	return out
}

func TestInboxGoesOnlyToTheDaemonItNames(t *testing.T) {
	h := inboxNode(t)
	if !h.n.KnowsPeer("p2") {
		t.Fatal("p2 unknown after its beacon")
	}
	if pats, ok := h.n.PeerPatterns("p2"); ok && len(pats) > 0 {
		t.Fatalf("p2's patterns known (%v): the test needs a peer never synced", pats)
	}

	// To a known peer: pushed to it at once, with no route and no gossip;
	// not to p3 (which wants #) and not to the local # subscription.
	effs := h.publish("_inbox/p2/c1/1", "noon")
	c := only[*CompletePublish](t, effs)
	if c.Err != nil || c.Result.Subscribers != 1 {
		t.Fatalf("publish to p2's inbox: %+v", c)
	}
	ps := pushesTo(effs)
	if len(ps) != 1 || len(ps["p2"]) != 1 {
		t.Fatalf("pushes %v, want one to p2:\n%s", ps, describe(effs))
	}
	if got := delivered(effs, 1); len(got) != 0 {
		t.Fatalf("the local # subscription got %v", got)
	}
	// Not ringed here: no replay on this node can show it.
	if got := h.ringSeqs("_inbox/p2/c1/1"); len(got) != 0 {
		t.Fatalf("another daemon's inbox message ringed here: %v", got)
	}
	// A second reply on the same inbox topic is chained to the first.
	ps = pushesTo(h.publish("_inbox/p2/c1/1", "later"))
	if len(ps["p2"]) != 1 || ps["p2"][0].Prev != 1 || ps["p2"][0].Msg.SourceSeq != 2 {
		t.Fatalf("second push %v: want #2 after #1", ps)
	}

	// To an unknown daemon: nowhere.
	effs = h.publish("_inbox/p9/c1/1", "lost")
	if c := only[*CompletePublish](t, effs); c.Err != nil || c.Result.Subscribers != 0 {
		t.Fatalf("publish to an unknown daemon's inbox: %+v", c)
	}
	if len(of[*Push](effs)) != 0 || len(delivered(effs, 1)) != 0 {
		t.Fatalf("an unknown daemon's inbox went somewhere:\n%s", describe(effs))
	}

	// To this node: its matching local subscriptions, no peer.
	effs = h.publish("_inbox/n1/c1/1", "mine")
	if c := only[*CompletePublish](t, effs); c.Err != nil || c.Result.Subscribers != 1 {
		t.Fatalf("publish to our own inbox: %+v", c)
	}
	if len(of[*Push](effs)) != 0 {
		t.Fatalf("our own inbox was pushed:\n%s", describe(effs))
	}
	if got := payloads(effs, 1); len(got) != 1 || got[0] != "mine" {
		t.Fatalf("local delivery %v", got)
	}

	// Ordinary topics still route by patterns.
	if ps := pushesTo(h.publish("svc/time", "?")); len(ps) != 1 || len(ps["p3"]) != 1 {
		t.Fatalf("ordinary publish pushed %v, want p3 only", ps)
	}
}

func TestInboxRetainAndReplyToAreChecked(t *testing.T) {
	h := inboxNode(t)
	refused := func(topic, why string, mods ...func(*Published)) {
		t.Helper()
		effs := h.publish(topic, "x", mods...)
		c := only[*CompletePublish](t, effs)
		if CodeOf(c.Err) != Invalid || !strings.Contains(c.Err.Error(), why) {
			t.Fatalf("publish %s: %v, want Invalid naming %q", topic, c.Err, why)
		}
		if len(of[*Push](effs)) != 0 || len(of[*Deliver](effs)) != 0 {
			t.Fatalf("a refused publish went somewhere:\n%s", describe(effs))
		}
	}
	retain := func(p *Published) { p.Retain = true }
	replyTo := func(r string) func(*Published) { return func(p *Published) { p.Extras = &Extras{ReplyTo: r} } }

	refused("_inbox/p2/c1/1", "retain", retain)
	refused("_inbox/n1/c1/1", "retain", retain)
	if h.n.OwnSeq("_inbox/p2/c1/1") != 0 {
		t.Fatal("a refused retain numbered its topic")
	}
	refused("svc/time", "reply_to", replyTo("svc/answers"))
	refused("svc/time", "reply_to", replyTo("_inbox"))
	refused("svc/time", "reply_to", replyTo("_inbox//x"))
	refused("svc/time", "reply_to", replyTo("_inbox/n1/+"))
	refused("svc/time", "reply_to", replyTo("_inbox/n1/"+strings.Repeat("x", 300)))

	// A valid reply_to rides with the message, locally and to peers.
	effs := h.publish("svc/time", "?", replyTo("_inbox/n1/c1/7"))
	if c := only[*CompletePublish](t, effs); c.Err != nil {
		t.Fatal(c.Err)
	}
	for _, d := range of[*Deliver](effs) {
		if d.Out.Kind == OutMessage && d.Out.Msg.ReplyTo() != "_inbox/n1/c1/7" {
			t.Fatalf("delivered reply_to %q", d.Out.Msg.ReplyTo())
		}
	}
	if env := only[*Push](t, effs).Envelope(); env.ReplyTo() != "_inbox/n1/c1/7" {
		t.Fatalf("pushed reply_to %q", env.ReplyTo())
	}
}

func TestInboxRunsRouteAsLonePublishes(t *testing.T) {
	w := newTwin(t)
	w.both("peers", func(h *harness) []Effect {
		h.beacon("p2", "p2:5671", 0)
		h.sync("p3", "#")
		h.subscribe(1, 100, "#")
		return nil
	})
	frame := func(topic string, n int, mods ...func(*Published)) []Published {
		pubs := make([]Published, n)
		for i := range pubs {
			w.batched.req++
			pubs[i] = Published{Req: w.batched.req, Topic: topic, Payload: []byte("r")}
			for _, m := range mods {
				m(&pubs[i])
			}
		}
		return pubs
	}
	effs := w.frame(frame("_inbox/p2/c1/1", 4))
	ps := pushesTo(effs)
	if len(ps) != 1 || len(ps["p2"]) != 4 || len(delivered(effs, 1)) != 0 {
		t.Fatalf("a run to p2's inbox pushed %v and delivered %v", ps, delivered(effs, 1))
	}
	for i, p := range ps["p2"] {
		if p.Prev != uint64(i) || p.Msg.SourceSeq != uint64(i+1) {
			t.Fatalf("push %d: #%d after #%d", i, p.Msg.SourceSeq, p.Prev)
		}
	}
	for _, c := range of[*CompletePublish](effs) {
		if c.Err != nil || c.Result.Subscribers != 1 {
			t.Fatalf("run answer %+v", c)
		}
	}
	effs = w.frame(frame("_inbox/p9/c1/1", 3))
	if len(of[*Push](effs)) != 0 || len(delivered(effs, 1)) != 0 {
		t.Fatalf("a run to an unknown daemon's inbox went somewhere:\n%s", describe(effs))
	}
	effs = w.frame(frame("_inbox/n1/c1/1", 3))
	if len(of[*Push](effs)) != 0 || len(payloads(effs, 1)) != 3 {
		t.Fatalf("a run to our own inbox:\n%s", describe(effs))
	}
	// reply_to is checked in a run, and carried by its messages.
	pubs := frame("svc/time", 3, func(p *Published) { p.Extras = &Extras{ReplyTo: "_inbox/n1/c1/2"} })
	pubs[1].Extras = &Extras{ReplyTo: "svc/nope"}
	effs = w.frame(pubs)
	cs := completions(effs)
	if CodeOf(cs[pubs[1].Req].Err) != Invalid || cs[pubs[0].Req].Err != nil || cs[pubs[2].Req].Err != nil {
		t.Fatalf("run answers %+v", cs)
	}
	for _, p := range of[*Push](effs) {
		if p.Msg.ReplyTo() != "_inbox/n1/c1/2" {
			t.Fatalf("pushed reply_to %q", p.Msg.ReplyTo())
		}
	}
	// Retain on an inbox topic is refused in a run too.
	effs = w.frame(frame("_inbox/p2/c1/3", 2, func(p *Published) { p.Retain = true }))
	for _, c := range of[*CompletePublish](effs) {
		if CodeOf(c.Err) != Invalid {
			t.Fatalf("retained inbox publish in a run: %+v", c)
		}
	}
}

func TestInboxReceivedOnlyByTheDaemonItNames(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("p2")
	h.subscribe(1, 100, "#")
	mine := h.envFrom("p2", "_inbox/n1/c1/1", 1)
	if got := payloads(h.pushFrom("p2", mine), 1); len(got) != 1 {
		t.Fatalf("our inbox message delivered %v", got)
	}
	// One naming another daemon reached us by mistake: delivered to no one.
	other := h.envFrom("p2", "_inbox/p3/c1/1", 1)
	if got := delivered(h.pushFrom("p2", other), 1); len(got) != 0 {
		t.Fatalf("another daemon's inbox message delivered here: %v", got)
	}
	// A reply_to from a peer arrives with its message; a bad one is refused.
	env := h.envFrom("p2", "svc/time", 1)
	env.Edit().ReplyTo = "_inbox/p2/c9/1"
	effs := h.pushFrom("p2", env)
	for _, d := range of[*Deliver](effs) {
		if d.Out.Kind == OutMessage && d.Out.Msg.ReplyTo() != env.ReplyTo() {
			t.Fatalf("delivered reply_to %q", d.Out.Msg.ReplyTo())
		}
	}
	bad := h.envFrom("p2", "svc/time", 2)
	bad.Edit().ReplyTo = "svc/answers"
	h.req++
	a := only[*AnswerPush](t, h.step(&PushReceived{Req: h.req, From: "p2:5671", Envs: []Envelope{bad}}))
	if len(a.Errs) != 1 || CodeOf(a.Errs[0]) != Invalid {
		t.Fatalf("a push with a bad reply_to: %v", a.Errs)
	}
}

func TestInboxNode(t *testing.T) {
	for _, c := range []struct {
		topic, node string
		inbox       bool
	}{
		{"_inbox/abc/1", "abc", true},
		{"_inbox/abc", "abc", true},
		{"_inbox", "", true},
		{"_inbox/", "", true},
		{"_inboxes/abc", "", false},
		{"a/_inbox/abc", "", false},
	} {
		if node, ok := InboxNode(c.topic); node != c.node || ok != c.inbox {
			t.Errorf("InboxNode(%q) = %q, %v; want %q, %v", c.topic, node, ok, c.node, c.inbox)
		}
	}
}
