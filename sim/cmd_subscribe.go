package sim

import (
	"fmt"

	"github.com/nexusd/nexusd/state"
)

// subscribe node=I topic=PATTERN... [sub=NAME] [retained] [queue=K]
// [policy=drop-oldest|drop-newest|block] [rate=N/s|stalled]
// [resume-window=DURATION] [group=NAME] [by-number]: open a subscription whose client records
// everything it gets (see `deliveries`); a stalled one never reads
// anything; one with a resume window is kept paused that long when its
// stream breaks (see `reconnect`); one with a group is a member of that
// queue group (see `check group=`); one by number is a packed
// subscriber's stream, which a frame's publishes reach in runs.
func cmdSubscribe(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	topics, err := s.expandAll(a.strs("topic"))
	if err != nil {
		return "", fmt.Errorf("subscribe: %w", err)
	}
	if len(topics) == 0 {
		return "", fmt.Errorf("subscribe: topic= is required")
	}
	name := a.str("sub", fmt.Sprintf("s%d", len(s.w.clients)+1))
	o := SubOptions{Retained: a.has("retained"), Policy: state.PolicyDefault, Record: true, Group: a.str("group", ""), ByNumber: a.has("by-number") || s.packed}
	if o.Queue, err = a.int("queue", 0); err != nil {
		return "", err
	}
	if v := a.str("policy", ""); v != "" {
		if o.Policy, err = state.ParsePolicy(v); err != nil {
			return "", fmt.Errorf("subscribe: %w", err)
		}
	}
	if o.Rate, err = a.rate("rate"); err != nil {
		return "", err
	}
	if o.ResumeWindow, err = a.dur("resume-window", 0); err != nil {
		return "", err
	}
	if o.Stalled = a.has("stalled"); o.Stalled && o.Rate > 0 {
		return "", fmt.Errorf("subscribe: a stalled subscription has no rate")
	}
	if err := s.w.Subscribe(i, name, topics, o); err != nil {
		return fmt.Sprintf("refused: %v", err), nil
	}
	return "ok " + name, nil
}
