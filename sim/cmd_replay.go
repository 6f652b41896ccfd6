package sim

import (
	"fmt"
	"time"
)

// replay node=I for=D [every=D] [to=J] [addr=HOST:PORT]: someone on the LAN
// sends the last beacon node I sent, as captured, again every interval
// (default 1s) for D, to every node or only to J; addr= sends it from
// another address (the beacon claims node I lives there). The node itself
// may be down: a replay is what keeps a dead node looking alive.
func cmdReplay(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	span, err := a.dur("for", 0)
	if err != nil {
		return "", err
	}
	every, err := a.dur("every", time.Second)
	if err != nil {
		return "", err
	}
	if span <= 0 || every <= 0 {
		return "", fmt.Errorf("replay: want for= and every= above zero")
	}
	var to *simNode
	if a.str("to", "") != "" {
		j, err := s.nodeNum(a.cmd, a.str("to", ""))
		if err != nil {
			return "", err
		}
		to = s.w.nodes[j-1]
	}
	n, err := s.w.Replay(i, to, a.str("addr", ""), span, every)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("ok: %d beacons", n), nil
}

// Replay schedules copies of node i's last beacon (from addr, if given)
// every interval for span, to one node or all; it reports how many.
func (w *World) Replay(i int, to *simNode, addr string, span, every time.Duration) (int, error) {
	sn := w.nodes[i-1]
	if sn.lastBeacon.Instance == "" {
		return 0, fmt.Errorf("replay: n%d has sent no beacon yet", i)
	}
	b := sn.lastBeacon
	if addr != "" {
		b.Addr = addr
	}
	n := 0
	for at := w.now + every; at <= w.now+span; at += every {
		w.schedule(at, event{kind: evBeacon, node: sn, gen: sn.gen, ev: b, to: to})
		n++
	}
	return n, nil
}
