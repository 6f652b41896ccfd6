package sim

import (
	"fmt"
	"strings"

	"github.com/nexusd/nexusd/state"
)

// Queue groups in a swarm (SwarmOptions.Groups): each group has three
// members on random nodes, joined during the warm-up and kept to the end
// (no churn, no slow consumer, no reconnect picks them: a member's loss of
// a message its node was chosen for would be the fault's, not the
// group's). At the end every message published while a member was known
// must have reached exactly one member, or died with the node chosen for
// it, or been declared lost there, or dropped from a member's queue that a
// burst filled (check group=).

const swarmGroupMembers = 3

func groupName(k int) string { return fmt.Sprintf("g%d", k) }

func (s *swarm) joinGroups() {
	for k := range s.o.Groups {
		pats := []string{"t/#"}
		if k > 0 {
			pats = []string{s.pattern()}
		}
		for range swarmGroupMembers {
			i := 1 + s.rng.IntN(s.w.Size())
			s.subs++
			name := fmt.Sprintf("s%d", s.subs)
			if err := s.w.Subscribe(i, name, pats, SubOptions{Group: groupName(k), Policy: state.PolicyDefault, ResumeWindow: swarmResumeWindow}); err == nil {
				s.record(fmt.Sprintf("subscribe node=%d sub=%s resume-window=%s topic=%s group=%s", i, name, swarmResumeWindow, strings.Join(pats, " topic="), groupName(k)))
			}
		}
	}
}

// checkGroups judges every group; "" when all hold.
func (s *swarm) checkGroups() string {
	for k := range s.o.Groups {
		r, err := s.w.CheckGroup(groupName(k))
		if err != nil {
			continue // no member joined (its nodes were down)
		}
		if out, err := r.verdict(-1); err != nil {
			return "group " + groupName(k) + ": " + out
		}
	}
	return ""
}
