package sim

// unsubscribe node=I sub=NAME [pause]: end a subscription, or pause it.
func cmdUnsubscribe(s *Script, a *args) (string, error) {
	if _, err := s.node(a); err != nil {
		return "", err
	}
	name, err := a.need("sub")
	if err != nil {
		return "", err
	}
	if err := s.w.Unsubscribe(name, a.has("pause")); err != nil {
		return "refused: " + err.Error(), nil
	}
	return "ok", nil
}
