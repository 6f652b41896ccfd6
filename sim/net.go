package sim

import (
	"fmt"
	"math"
	"time"
)

// NetConfig is the network's behaviour; the fault commands change it while
// a world runs.
type NetConfig struct {
	DelayMin  time.Duration // every unicast message takes at least this
	DelayMean time.Duration // plus an exponential delay with this mean
	Loss      float64       // a unicast request or answer is lost
	Dup       float64       // a unicast request is delivered twice
	Reorder   float64       // a message may overtake earlier ones on its link
	McastLoss float64       // one receiver misses one beacon
}

// DefaultNet is a quiet LAN: 0.2 ms plus 0.3 ms mean, nothing lost.
func DefaultNet() NetConfig {
	return NetConfig{DelayMin: 200 * time.Microsecond, DelayMean: 300 * time.Microsecond}
}

func (c NetConfig) validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", c.Loss}, {"dup", c.Dup}, {"reorder", c.Reorder}, {"mcast-loss", c.McastLoss}} {
		if p.v < 0 || p.v > 1 || math.IsNaN(p.v) {
			return fmt.Errorf("sim: %s=%g: want a probability in [0, 1]", p.name, p.v)
		}
	}
	if c.DelayMin < 0 || c.DelayMean < 0 {
		return fmt.Errorf("sim: negative delay")
	}
	return nil
}

// network holds the links' state: partitions and FIFO order.
type network struct {
	cfg     NetConfig
	n       int
	cut     []bool          // cut[from*n+to]: from cannot reach to
	lastArr []time.Duration // lastArr[from*n+to]: FIFO per link
	cuts    int
}

func (nw *network) init(n int, cfg NetConfig) {
	nw.cfg = cfg
	nw.n = n
	nw.cut = make([]bool, n*n)
	nw.lastArr = make([]time.Duration, n*n)
}

func (nw *network) blocked(from, to int) bool { return nw.cut[from*nw.n+to] }

func (nw *network) setCut(from, to int, cut bool) {
	if nw.cut[from*nw.n+to] != cut {
		if cut {
			nw.cuts++
		} else {
			nw.cuts--
		}
	}
	nw.cut[from*nw.n+to] = cut
}

// heal removes every partition.
func (nw *network) heal() {
	clear(nw.cut)
	nw.cuts = 0
}

// Partition splits the nodes into groups (node numbers from 1); nodes in
// different groups cannot reach each other. Nodes in no group join the
// first. It replaces any earlier partition.
func (w *World) Partition(groups [][]int) error {
	group := make([]int, len(w.nodes))
	for g, members := range groups {
		for _, i := range members {
			if i < 1 || i > len(w.nodes) {
				return fmt.Errorf("partition: no node %d (nodes are 1..%d)", i, len(w.nodes))
			}
			group[i-1] = g
		}
	}
	w.net.heal()
	for a := range w.nodes {
		for b := range w.nodes {
			if group[a] != group[b] {
				w.net.setCut(a, b, true)
			}
		}
	}
	w.stats.Partitions++
	return nil
}

// Cut blocks one direction: from cannot reach to (an asymmetric partition).
func (w *World) Cut(from, to int) { w.net.setCut(from-1, to-1, true); w.stats.Partitions++ }

// Isolate cuts node i off from every other node, both ways.
func (w *World) Isolate(i int) {
	for b := range w.nodes {
		if b != i-1 {
			w.net.setCut(i-1, b, true)
			w.net.setCut(b, i-1, true)
		}
	}
	w.stats.Partitions++
}

// Heal ends every partition.
func (w *World) Heal() { w.net.heal() }

// SetNet changes the network's behaviour from now on.
func (w *World) SetNet(c NetConfig) error {
	if err := c.validate(); err != nil {
		return err
	}
	w.net.cfg = c
	return nil
}

// Net is the network's current behaviour.
func (w *World) Net() NetConfig { return w.net.cfg }

// transit decides the fate of one unicast message from a to b: whether it
// arrives and when.
func (w *World) transit(a, b *simNode) (time.Duration, bool) {
	if w.net.blocked(a.idx, b.idx) {
		return 0, false
	}
	cfg := &w.net.cfg
	if cfg.Loss > 0 && w.rng.Float64() < cfg.Loss {
		w.stats.Lost++
		return 0, false
	}
	d := cfg.DelayMin
	if cfg.DelayMean > 0 {
		d += time.Duration(w.rng.ExpFloat64() * float64(cfg.DelayMean))
	}
	arr := w.now + d
	k := a.idx*w.net.n + b.idx
	if cfg.Reorder == 0 || w.rng.Float64() >= cfg.Reorder {
		arr = max(arr, w.net.lastArr[k]) // FIFO: a stream keeps order
		w.net.lastArr[k] = arr
	} else {
		w.stats.Reordered++
	}
	return arr, true
}
