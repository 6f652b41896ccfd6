package sim

import (
	"fmt"

	"github.com/nexusd/nexusd/state"
)

// resume node=I sub=NAME [mode=replay|retained|none]: resume a paused
// subscription from the last sequence its client saw on each topic.
func cmdResume(s *Script, a *args) (string, error) {
	if _, err := s.node(a); err != nil {
		return "", err
	}
	name, err := a.need("sub")
	if err != nil {
		return "", err
	}
	modes := map[string]state.Recovery{"replay": state.RecoverReplay, "retained": state.RecoverRetained, "none": state.RecoverNone}
	mode, ok := modes[a.str("mode", "replay")]
	if !ok {
		return "", fmt.Errorf("resume: mode=%q: want replay, retained or none", a.str("mode", ""))
	}
	if err := s.w.Resume(name, mode); err != nil {
		return "refused: " + err.Error(), nil
	}
	return "ok", nil
}
