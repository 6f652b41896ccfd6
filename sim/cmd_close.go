package sim

// close sub=NAME: the client goes away; its stream ends.
func cmdClose(s *Script, a *args) (string, error) {
	name, err := a.need("sub")
	if err != nil {
		return "", err
	}
	if err := s.w.Close(name); err != nil {
		return "", err
	}
	return "ok", nil
}
