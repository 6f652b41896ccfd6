package sim

import "time"

// reconnect sub=NAME [after=DURATION]: the subscription's connection
// breaks (its node sees the stream end, no Unsubscribe), and after
// DURATION (default 1s) its client opens it again as the Go client does:
// by id, else by its topics, from the last sequence numbers it got.
func cmdReconnect(s *Script, a *args) (string, error) {
	name, err := a.need("sub")
	if err != nil {
		return "", err
	}
	after, err := a.dur("after", time.Second)
	if err != nil {
		return "", err
	}
	if err := s.w.Reconnect(name, after); err != nil {
		return "", err
	}
	return "ok", nil
}
