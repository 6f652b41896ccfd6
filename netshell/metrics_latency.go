package netshell

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// msHistogram is a Prometheus histogram of whole milliseconds, exported in
// seconds, that takes one value n times at the cost of once. Delivery
// latency has millisecond resolution (timestamp_ms), and a frame's
// messages mostly share their publish millisecond, so a stream observes
// each run of equal values once instead of once per message (Prometheus's
// own Histogram.Observe cost 5% of a busy daemon's CPU).
type msHistogram struct {
	desc   *prometheus.Desc
	upper  []float64       // the buckets' upper bounds, in seconds
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumMs  atomic.Uint64
}

func newMsHistogram(name, help string, upper []float64) *msHistogram {
	return &msHistogram{desc: prometheus.NewDesc(name, help, nil, nil), upper: upper,
		counts: make([]atomic.Uint64, len(upper)+1)}
}

// observeN records the value ms (negative counts as 0) n times.
func (h *msHistogram) observeN(ms int64, n uint64) {
	if n == 0 {
		return
	}
	ms = max(ms, 0)
	v := float64(ms) / 1000
	i := 0
	for i < len(h.upper) && v > h.upper[i] {
		i++
	}
	h.counts[i].Add(n)
	h.sumMs.Add(uint64(ms) * n)
}

func (h *msHistogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

// Collect exports the buckets cumulatively, the count as their total (so
// the two agree even while streams observe).
func (h *msHistogram) Collect(ch chan<- prometheus.Metric) {
	buckets := make(map[float64]uint64, len(h.upper))
	var total uint64
	for i, ub := range h.upper {
		total += h.counts[i].Load()
		buckets[ub] = total
	}
	total += h.counts[len(h.upper)].Load()
	ch <- prometheus.MustNewConstHistogram(h.desc, total, float64(h.sumMs.Load())/1000, buckets)
}

// latencyRuns observes the latency of a stream's messages, a run of equal
// values at a time: add each message's publish time in order, then flush.
type latencyRuns struct {
	h     *msHistogram
	nowMs int64
	ms    int64 // the current run's value
	n     uint64
}

func (r *latencyRuns) add(timestampMs int64) { r.addN(timestampMs, 1) }

// addN adds n observations of one timestamp.
func (r *latencyRuns) addN(timestampMs int64, n uint64) {
	ms := max(r.nowMs-timestampMs, 0)
	if r.n > 0 && ms == r.ms {
		r.n += n
		return
	}
	r.flush()
	r.ms, r.n = ms, n
}

func (r *latencyRuns) flush() {
	r.h.observeN(r.ms, r.n)
	r.n = 0
}
