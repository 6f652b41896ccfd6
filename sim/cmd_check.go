package sim

import (
	"fmt"
	"strings"
)

// check converged | delivered node=I sub=NAME count=K | retained node=I
// topic=T payload=TEXT|none | no-dups | order | payloads | no-loss |
// bounds | gap node=I sub=NAME | group=NAME [within=PCT]: print ok, or
// what differs. payloads: no subscriber got memory a node did not own
// (client.checkPayload).
func cmdCheck(s *Script, a *args) (string, error) {
	if _, ok := a.kv["group"]; ok && len(a.flags) == 0 {
		return s.checkGroup(a)
	}
	if len(a.flags) != 1 {
		return "", fmt.Errorf("check: say what to check: converged, delivered, retained, no-dups, order, payloads, no-loss, bounds, invariants or gap")
	}
	var what string
	for k := range a.flags {
		what = k
	}
	a.used[what] = true
	w := s.w
	switch what {
	case "converged":
		return checkResult(w.Converged())
	case "no-dups":
		return violationsResult(w.Violations("duplicate"))
	case "order":
		return violationsResult(w.Violations("order"))
	case "payloads":
		return violationsResult(w.Violations("payload"))
	case "no-loss":
		return violationsResult(w.CheckNoLoss())
	case "bounds":
		return violationsResult(w.CheckCaps())
	case "invariants":
		return violationsResult(append(w.CheckInvariants(), w.Violations("invariant")...))
	case "delivered":
		return s.checkDelivered(a)
	case "retained":
		return s.checkRetained(a)
	case "gap":
		return s.checkGap(a)
	}
	return "", fmt.Errorf("check: unknown check %q", what)
}

func violationsResult(v []string) (string, error) {
	if len(v) == 0 {
		return "ok", nil
	}
	return strings.Join(v, "\n"), ErrCheck
}

// sub reads node=I sub=NAME and finds the subscription.
func (s *Script) sub(a *args) (*client, error) {
	i, err := s.node(a)
	if err != nil {
		return nil, err
	}
	name, err := a.need("sub")
	if err != nil {
		return nil, err
	}
	c := s.w.clients[name]
	if c == nil || c.node.idx != i-1 {
		return nil, fmt.Errorf("%s: no subscription %q on node %d", a.cmd, name, i)
	}
	return c, nil
}

func (s *Script) checkDelivered(a *args) (string, error) {
	c, err := s.sub(a)
	if err != nil {
		return "", err
	}
	want, err := a.int("count", -1)
	if err != nil || want < 0 {
		return "", fmt.Errorf("check delivered: count= is required")
	}
	got := len(c.payloads)
	return checkResult(got == want, fmt.Sprintf("%s got %d messages, want %d: %s", c.name, got, want, strings.Join(c.payloads, " ")))
}

func (s *Script) checkRetained(a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	topic, err := a.need("topic")
	if err != nil {
		return "", err
	}
	want, err := a.need("payload")
	if err != nil {
		return "", err
	}
	got := "none"
	if m := s.w.Node(i).Retained(topic); m != nil {
		got = string(m.Payload)
	}
	return checkResult(got == want, fmt.Sprintf("n%d retains %s=%s, want %s", i, topic, got, want))
}

func (s *Script) checkGap(a *args) (string, error) {
	c, err := s.sub(a)
	if err != nil {
		return "", err
	}
	missed := 0
	for _, info := range c.infos {
		if info.GapDetected {
			missed += info.Missed
		}
	}
	var seen []string
	if c.jumps > 0 {
		seen = append(seen, fmt.Sprintf("%d sequence numbers skipped", c.jumps))
	}
	if c.lost > 0 {
		seen = append(seen, fmt.Sprintf("warned of %d lost", c.lost))
	}
	if missed != 0 {
		seen = append(seen, fmt.Sprintf("resume reported %d missed", missed))
	}
	if len(seen) == 0 {
		return fmt.Sprintf("%s saw no gap", c.name), ErrCheck
	}
	return "ok: " + strings.Join(seen, ", "), nil
}
