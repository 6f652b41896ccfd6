package sim

import "fmt"

// slow node=I sub=NAME rate=N/s: the subscription's client takes N events
// a second from now on.
func cmdSlow(s *Script, a *args) (string, error) {
	if _, err := s.node(a); err != nil {
		return "", err
	}
	name, err := a.need("sub")
	if err != nil {
		return "", err
	}
	if a.str("rate", "") == "0/s" { // back to full speed
		return "ok", s.w.SetRate(name, 0)
	}
	r, err := a.rate("rate")
	if err != nil || r == 0 {
		return "", fmt.Errorf("slow: rate= is required, such as rate=10/s (0/s: full speed again)")
	}
	return "ok", s.w.SetRate(name, r)
}
