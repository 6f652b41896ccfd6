package sim

// isolate node=I: cut node I off from everyone, both ways.
func cmdIsolate(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	s.w.Isolate(i)
	return "ok", nil
}
