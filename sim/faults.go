package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FaultPlan is what a swarm run does to its world during the safety phase:
// the network's behaviour, and how many of each discrete fault to inject at
// seeded random times.
type FaultPlan struct {
	Net        NetConfig
	Partitions int // random two-way splits, 1 to 8 s each
	Cuts       int // one-way cuts between two nodes, 1 to 8 s each
	Isolations int // one node cut off, 1 to 8 s
	Crashes    int // a node crashes and restarts 1 to 6 s later
	Leaves     int // a node stops gracefully (leave) and restarts 1 to 6 s later
	Pauses     int // a node stops processing for 1 to 7 s
	ClockJumps int // a node's wall clock jumps by up to ±1 h
	Slow       int // a subscriber consumes 5 to 50 events a second for a while
	Reconnects int // a subscriber's connection breaks; it resumes 0.1 to 5 s later
}

// Faults presets: "none" (a quiet LAN) and "default" (some of everything).
var faultPresets = map[string]string{
	"none":    "",
	"default": "loss=0.02,dup=0.02,reorder=0.05,delay=200us..5ms,mcast-loss=0.1,partitions=2,cuts=1,isolations=1,crashes=2,pauses=2,clock-jumps=1,slow=2,reconnects=2,leaves=1",
	"heavy":   "loss=0.1,dup=0.05,reorder=0.2,delay=1ms..30ms,mcast-loss=0.3,partitions=4,cuts=2,isolations=2,crashes=4,pauses=3,clock-jumps=2,slow=4,reconnects=4,leaves=2",
}

// ParseFaults reads a plan: a preset name (none, default, heavy) or a
// comma-separated list of key=value: loss, dup, reorder, mcast-loss
// (probabilities), delay=MIN..MAX, and counts partitions, cuts,
// isolations, crashes, leaves, pauses, clock-jumps, slow, reconnects. A preset may be
// followed by overrides: "default,crashes=0".
func ParseFaults(s string) (FaultPlan, error) {
	p := FaultPlan{Net: DefaultNet()}
	var items []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if preset, ok := faultPresets[part]; ok {
			if preset != "" {
				items = append(items, strings.Split(preset, ",")...)
			}
			continue
		}
		if part != "" {
			items = append(items, part)
		}
	}
	counts := map[string]*int{"partitions": &p.Partitions, "cuts": &p.Cuts, "isolations": &p.Isolations,
		"crashes": &p.Crashes, "pauses": &p.Pauses, "clock-jumps": &p.ClockJumps, "slow": &p.Slow, "reconnects": &p.Reconnects, "leaves": &p.Leaves}
	probs := map[string]*float64{"loss": &p.Net.Loss, "dup": &p.Net.Dup, "reorder": &p.Net.Reorder, "mcast-loss": &p.Net.McastLoss}
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		if !ok {
			return p, fmt.Errorf("faults: %q: want key=value or a preset (%s)", it, presetNames())
		}
		switch {
		case counts[k] != nil:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return p, fmt.Errorf("faults: %s=%q: want a count", k, v)
			}
			*counts[k] = n
		case probs[k] != nil:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				return p, fmt.Errorf("faults: %s=%q: want a probability from 0 to 1", k, v)
			}
			*probs[k] = f
		case k == "delay":
			lo, hi, ok := strings.Cut(v, "..")
			dlo, err1 := time.ParseDuration(lo)
			dhi, err2 := time.ParseDuration(hi)
			if !ok || err1 != nil || err2 != nil || dhi < dlo || dlo < 0 {
				return p, fmt.Errorf("faults: delay=%q: want MIN..MAX such as 1ms..20ms", v)
			}
			p.Net.DelayMin, p.Net.DelayMean = dlo, (dhi-dlo)/2
		default:
			return p, fmt.Errorf("faults: unknown key %q", k)
		}
	}
	return p, nil
}

func presetNames() string {
	var names []string
	for n := range faultPresets {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// String is the plan in the form ParseFaults reads.
func (p FaultPlan) String() string {
	n := p.Net
	return fmt.Sprintf("loss=%g,dup=%g,reorder=%g,mcast-loss=%g,delay=%s..%s,partitions=%d,cuts=%d,isolations=%d,crashes=%d,pauses=%d,clock-jumps=%d,slow=%d,reconnects=%d,leaves=%d",
		n.Loss, n.Dup, n.Reorder, n.McastLoss, n.DelayMin, n.DelayMin+2*n.DelayMean,
		p.Partitions, p.Cuts, p.Isolations, p.Crashes, p.Pauses, p.ClockJumps, p.Slow, p.Reconnects, p.Leaves)
}
