package sim

// heal: end every partition and cut.
func cmdHeal(s *Script, a *args) (string, error) {
	s.w.Heal()
	return "ok", nil
}
