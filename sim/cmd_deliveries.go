package sim

import "strings"

// deliveries sub=NAME: what the subscription's stream received since the
// last `deliveries` for it, one event per line.
func cmdDeliveries(s *Script, a *args) (string, error) {
	name, err := a.need("sub")
	if err != nil {
		return "", err
	}
	c := s.w.clients[name]
	if c == nil {
		return "", errNoSub(name)
	}
	if len(c.events) == 0 {
		return "(nothing)", nil
	}
	out := strings.Join(c.events, "\n")
	c.events = nil
	return out, nil
}
