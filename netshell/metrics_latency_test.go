package netshell

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The run-at-a-time histogram exports what Prometheus's own histogram
// does for the same latencies one Observe each: every bucket, the count
// and the sum, including bound values, runs of equal values, a negative
// latency (clock skew) and one past the last bound.
func TestLatencyRunsMatchOneObservePerMessage(t *testing.T) {
	upper := []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ref", Help: "ref", Buckets: upper})
	ours := newMsHistogram("ours", "ours", upper)
	const nowMs = 1_700_000_000_000
	rng := rand.New(rand.NewPCG(1, 2))
	picks := []int64{-3, 0, 1, 2, 3, 5, 10, 20, 999, 1000, 1001, 10000, 10001, 60000}
	for range 50 { // 50 streams' settles
		lat := latencyRuns{h: ours, nowMs: nowMs}
		for range rng.IntN(40) {
			ms := picks[rng.IntN(len(picks))]
			for range 1 + rng.IntN(5) { // a run of one value
				ref.Observe(float64(max(ms, 0)) / 1000)
				lat.add(nowMs - ms)
			}
		}
		lat.flush()
	}
	want, got := histogramOf(t, ref), histogramOf(t, ours)
	if want.GetSampleCount() == 0 || got.GetSampleCount() != want.GetSampleCount() {
		t.Fatalf("count %d, want %d", got.GetSampleCount(), want.GetSampleCount())
	}
	if math.Abs(got.GetSampleSum()-want.GetSampleSum()) > 1e-6 {
		t.Errorf("sum %v, want %v", got.GetSampleSum(), want.GetSampleSum())
	}
	if len(got.Bucket) != len(want.Bucket) {
		t.Fatalf("%d buckets, want %d", len(got.Bucket), len(want.Bucket))
	}
	for i, b := range want.Bucket {
		if g := got.Bucket[i]; g.GetUpperBound() != b.GetUpperBound() || g.GetCumulativeCount() != b.GetCumulativeCount() {
			t.Errorf("bucket le=%v: %d, want le=%v: %d", g.GetUpperBound(), g.GetCumulativeCount(), b.GetUpperBound(), b.GetCumulativeCount())
		}
	}
}

func histogramOf(t *testing.T, c prometheus.Collector) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].Metric) != 1 {
		t.Fatalf("gather: %v, %d families", err, len(mfs))
	}
	return mfs[0].Metric[0].GetHistogram()
}
