package sim

// leave node=I: the node stops gracefully: it says it is leaving (its
// last beacon, and a notice over the mesh to every peer it knows), then
// stops as crash does. Its peers drop it when the first of the two reaches
// them, not after PeerTimeout.
func cmdLeave(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	s.w.Leave(i)
	return "ok", nil
}
