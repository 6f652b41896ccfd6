package sim

// wake node=I: end the node's pause now.
func cmdWake(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	s.w.Wake(i)
	return "ok", nil
}
