package state

import "strings"

// Inbox topics, for request/reply. A topic whose first level is "_inbox"
// names a daemon instance by its second level: "_inbox/<instance id>/...".
// A message published to one goes only to the daemon it names: delivered
// to this node's matching subscriptions when it is this node, pushed
// straight to that peer when it is one we know (whatever its patterns, and
// whether or not its state was ever fetched), and to no one otherwise. A
// reply thus needs no gossip round trip: the requester's daemon has its
// inbox subscription, and the responder's daemon knows it as a peer from
// its beacons. A push of an inbox message is an ordinary push: numbered,
// chained and repaired as any other.

// InboxPrefix begins every inbox topic.
const InboxPrefix = "_inbox/"

// InboxNode returns the instance id an inbox topic names ("" when its
// second level is missing or empty) and whether topic is an inbox topic.
func InboxNode(topic string) (string, bool) {
	if topic == "_inbox" {
		return "", true
	}
	rest, ok := strings.CutPrefix(topic, InboxPrefix)
	if !ok {
		return "", false
	}
	node, _, _ := strings.Cut(rest, "/")
	return node, true
}

// IsInbox reports whether topic is an inbox topic.
func IsInbox(topic string) bool {
	_, ok := InboxNode(topic)
	return ok
}

// ValidateReplyTo checks a publish's reply_to: empty, or a valid inbox
// topic that names a daemon.
func ValidateReplyTo(replyTo string, maxBytes, maxLevels int) error {
	if replyTo == "" {
		return nil
	}
	if err := ValidateTopic(replyTo, maxBytes, maxLevels); err != nil {
		return errorf(Invalid, "reply_to: %v", err)
	}
	if node, _ := InboxNode(replyTo); node == "" {
		return errorf(Invalid, "reply_to %q is not an inbox topic: give _inbox/<daemon instance id>/... (or nothing)", replyTo)
	}
	return nil
}

// replyToOK is ValidateReplyTo without building the error.
func (n *Node) replyToOK(replyTo string) bool {
	return replyTo == "" || ValidateReplyTo(replyTo, n.cfg.MaxTopicBytes, n.cfg.MaxTopicLevels) == nil
}

// foreignInbox reports whether topic is an inbox topic naming another
// daemon than this one: this node delivers it to none of its own
// subscriptions.
func (n *Node) foreignInbox(topic string) bool {
	node, ok := InboxNode(topic)
	return ok && node != n.cfg.NodeID
}

// deliverOwn numbers a message and hands it to the matching local
// subscriptions, unless it is addressed to another daemon's inbox: then
// this node neither numbers nor rings it, so no subscription of its own
// ever sees it, not even in a replay. (A push of ours still owed is
// resent from its link; one shed unsent is reported lost at once,
// link.go droppedFrom.)
func (n *Node) deliverOwn(t *topicState, m *Message) {
	if n.foreignInbox(m.Topic) {
		return
	}
	n.deliverLocal(t, m)
}

// routeInbox pushes m, on an inbox topic, to the peer it names if we know
// that peer, and returns how many peers that is (0 or 1). No departed
// peer keeps it: a daemon we do not know now is not one to reply to.
func (n *Node) routeInbox(m *Message) int {
	node, _ := InboxNode(m.Topic)
	if node == n.cfg.NodeID {
		return 0
	}
	p := n.peers.get(node)
	if p == nil {
		return 0
	}
	n.send(p, m)
	return 1
}

// matchInbox is matchRun for an inbox topic: this node's subscriptions
// when it names this node, else the one peer it names if known.
func (n *Node) matchInbox(topic string) {
	r := &n.run
	node, _ := InboxNode(topic)
	if node == n.cfg.NodeID {
		n.mark++
		mark := n.mark
		n.localRoutes.match(topic, func(s *subscription) {
			if s.mark == mark {
				return
			}
			s.mark = mark
			if !s.paused && s.group == "" { // as matchRun: a member takes what it is chosen for
				r.subs = append(r.subs, runSub{s: s})
			}
		})
		return
	}
	if p := n.peers.get(node); p != nil {
		r.chains = append(r.chains, runChain{c: p.link.chain, p: p})
		r.peers = 1
	}
}
