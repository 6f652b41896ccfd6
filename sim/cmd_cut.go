package sim

// cut from=I to=J: I can no longer reach J (J still reaches I).
func cmdCut(s *Script, a *args) (string, error) {
	from, err := a.need("from")
	if err != nil {
		return "", err
	}
	to, err := a.need("to")
	if err != nil {
		return "", err
	}
	i, err := s.nodeNum("cut", from)
	if err != nil {
		return "", err
	}
	j, err := s.nodeNum("cut", to)
	if err != nil {
		return "", err
	}
	s.w.Cut(i, j)
	return "ok", nil
}
