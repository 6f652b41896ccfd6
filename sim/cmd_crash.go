package sim

// crash node=I: the node stops; its subscriptions' streams end with it.
func cmdCrash(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	s.w.Crash(i)
	return "ok", nil
}
