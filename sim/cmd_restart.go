package sim

// restart node=I: the node comes back as a new instance with empty state.
func cmdRestart(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	if err := s.w.Restart(i); err != nil {
		return "", err
	}
	return "ok", nil
}
