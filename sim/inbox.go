package sim

import (
	"fmt"
	"strings"

	"github.com/nexusd/nexusd/state"
)

// Inbox topics name a daemon by its instance id, which a scenario cannot
// know in advance and must not print. A script writes {nI} for node I's
// current instance id in a topic, a pattern or reply-to=; output shows an
// instance id inside a topic as {nI} again.

// expandIDs replaces every {nI} in v with node I's current instance id.
func (s *Script) expandIDs(v string) (string, error) {
	var b strings.Builder
	for {
		open := strings.IndexByte(v, '{')
		if open < 0 {
			b.WriteString(v)
			return b.String(), nil
		}
		end := strings.IndexByte(v[open:], '}')
		if end < 0 {
			return "", fmt.Errorf("%q: a { without its }", v)
		}
		i, err := s.nodeNum("topic", v[open+1:open+end])
		if err != nil {
			return "", err
		}
		b.WriteString(v[:open])
		b.WriteString(s.w.nodes[i-1].id)
		v = v[open+end+1:]
	}
}

// expandAll is expandIDs over each of vs.
func (s *Script) expandAll(vs []string) ([]string, error) {
	out := make([]string, len(vs))
	for i, v := range vs {
		var err error
		if out[i], err = s.expandIDs(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// showIDs writes every node's instance id in text that names an inbox (a
// topic, a pattern, a refusal) as {nI}.
func (w *World) showIDs(text string) string {
	if !strings.Contains(text, "_inbox") {
		return text
	}
	for _, sn := range w.nodes {
		if sn.id != "" {
			text = strings.ReplaceAll(text, sn.id, "{"+sn.name+"}")
		}
	}
	return text
}

// owedInbox reports whether a publish by sn to an inbox topic is owed to
// c: the topic names c's node, and that is sn or a peer sn knows, to which
// it pushes straight.
func owedInbox(sn *simNode, c *client, topic string) bool {
	id, _ := state.InboxNode(topic)
	return id == c.node.id && (c.node == sn || sn.node.KnowsPeer(id))
}
