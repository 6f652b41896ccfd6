package sim

import (
	"fmt"
	"strings"
)

// rekey node=I keys=K[+K...]: the node loads a new keyring (its key file
// changed, or SIGHUP): from now on it signs with the first key and takes
// beacons signed with any. Rotating a cluster's key is three rekeys of
// every node: add the new key behind the old, put it first, drop the old.
func cmdRekey(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	ring, err := a.need("keys")
	if err != nil {
		return "", err
	}
	sn := s.w.nodes[i-1]
	if len(sn.keys) == 0 {
		return "", fmt.Errorf("rekey: n%d has no key: a node gets its first key at start (world keys=)", i)
	}
	sn.keys = strings.Split(ring, "+")
	s.w.keysOf[sn.id] = append(s.w.keysOf[sn.id], sn.keys)
	return "ok", nil
}
