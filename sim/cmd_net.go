package sim

import (
	"fmt"
	"strings"
	"time"
)

// net [loss=P] [dup=P] [reorder=P] [delay=MIN..MAX] [mcast-loss=P]: change
// the network from now on. delay=MIN..MAX means at least MIN, plus an
// exponential delay with mean (MAX-MIN)/2. Arguments left out keep their
// value; `net` alone prints the network.
func cmdNet(s *Script, a *args) (string, error) {
	c := s.w.Net()
	var err error
	if c.Loss, err = a.prob("loss", c.Loss); err != nil {
		return "", err
	}
	if c.Dup, err = a.prob("dup", c.Dup); err != nil {
		return "", err
	}
	if c.Reorder, err = a.prob("reorder", c.Reorder); err != nil {
		return "", err
	}
	if c.McastLoss, err = a.prob("mcast-loss", c.McastLoss); err != nil {
		return "", err
	}
	if v := a.str("delay", ""); v != "" {
		lo, hi, ok := strings.Cut(v, "..")
		dlo, err1 := time.ParseDuration(lo)
		dhi, err2 := time.ParseDuration(hi)
		if !ok || err1 != nil || err2 != nil || dhi < dlo || dlo < 0 {
			return "", fmt.Errorf("net: delay=%q: want MIN..MAX such as 1ms..20ms", v)
		}
		c.DelayMin, c.DelayMean = dlo, (dhi-dlo)/2
	}
	if err := s.w.SetNet(c); err != nil {
		return "", err
	}
	return fmt.Sprintf("loss=%g dup=%g reorder=%g mcast-loss=%g delay=%s+exp(%s)",
		c.Loss, c.Dup, c.Reorder, c.McastLoss, fmtDur(c.DelayMin), fmtDur(c.DelayMean)), nil
}
