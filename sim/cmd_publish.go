package sim

import (
	"fmt"
	"strings"

	"github.com/nexusd/nexusd/state"
)

// publish node=I topic=T [n=K] [retain] [payload=TEXT] [ttl=DURATION]:
// publish K messages now. Payloads are TEXT, or TEXT-1..TEXT-K when K > 1;
// without payload= they are numbered p1, p2... across the script.
func cmdPublish(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	topic, err := a.need("topic")
	if err != nil {
		return "", err
	}
	k, err := a.int("n", 1)
	if err != nil || k < 1 {
		return "", fmt.Errorf("publish: n= must be at least 1")
	}
	ttl, err := a.dur("ttl", 0)
	if err != nil {
		return "", err
	}
	o := PublishOptions{Retain: a.has("retain"), TTL: ttl}
	text, given := a.kv["payload"]
	a.used["payload"] = true
	var results []string
	pending := 0
	for j := 1; j <= k; j++ {
		var payload string
		switch {
		case given && k == 1:
			payload = text[0]
		case given:
			payload = fmt.Sprintf("%s-%d", text[0], j)
		default:
			s.pubs++
			payload = fmt.Sprintf("p%d", s.pubs)
		}
		answered := false
		err := s.w.Publish(i, topic, []byte(payload), o, func(e *state.CompletePublish) {
			answered = true
			if e.Err == nil && k == 1 {
				results = append(results, fmt.Sprintf("subscribers=%d", e.Result.Subscribers))
			}
		})
		if err != nil {
			return "refused: " + err.Error(), nil
		}
		if !answered {
			pending++
		}
	}
	if pending > 0 {
		results = append(results, fmt.Sprintf("%d waiting (block policy)", pending))
	}
	if len(results) == 0 {
		return "ok", nil
	}
	return "ok " + strings.Join(results, " "), nil
}
