package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	dto "github.com/prometheus/client_model/go"
)

// bucket is one bucket of a Prometheus histogram: how many observations
// were at most upper.
type bucket struct {
	upper      float64
	cumulative uint64
}

// histogram is a Prometheus histogram's buckets in ascending order, the
// last one +Inf (its count is the number of observations).
type histogram []bucket

// histogramFromProto converts an exposed histogram, which leaves the +Inf
// bucket implicit in its sample count.
func histogramFromProto(h *dto.Histogram) histogram {
	out := make(histogram, 0, len(h.GetBucket())+1)
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), +1) {
			continue
		}
		out = append(out, bucket{upper: b.GetUpperBound(), cumulative: b.GetCumulativeCount()})
	}
	slices.SortFunc(out, func(a, b bucket) int { return cmp.Compare(a.upper, b.upper) })
	return append(out, bucket{upper: math.Inf(+1), cumulative: h.GetSampleCount()})
}

// count is the number of observations.
func (h histogram) count() uint64 {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].cumulative
}

// since returns the observations h holds beyond earlier, an older reading
// of the same histogram, bucket by bucket. An empty earlier stands for no
// observations (the series did not exist yet). Different bounds or a count
// that went down mean the two are not readings of one histogram.
func (h histogram) since(earlier histogram) (histogram, error) {
	if len(earlier) == 0 {
		return slices.Clone(h), nil
	}
	if len(earlier) != len(h) {
		return nil, fmt.Errorf("histogram went from %d buckets to %d", len(earlier), len(h))
	}
	out := make(histogram, len(h))
	for i, b := range h {
		e := earlier[i]
		if b.upper != e.upper {
			return nil, fmt.Errorf("histogram bucket %d went from le=%g to le=%g", i, e.upper, b.upper)
		}
		if b.cumulative < e.cumulative {
			return nil, fmt.Errorf("histogram bucket le=%g went down from %d to %d", b.upper, e.cumulative, b.cumulative)
		}
		out[i] = bucket{upper: b.upper, cumulative: b.cumulative - e.cumulative}
	}
	return out, nil
}

// quantile estimates the q-quantile (0 ≤ q ≤ 1) of the observations as
// PromQL's histogram_quantile does, so the bench reads the same figure a
// dashboard would: find the bucket holding the rank q·count and interpolate
// linearly inside it, the first bucket starting at 0. A rank in the +Inf
// bucket yields the highest finite bound; a first bucket with a bound of 0
// or less yields that bound. NaN when there are no observations, fewer than
// two buckets, no +Inf bucket, or q is outside [0, 1].
func (h histogram) quantile(q float64) float64 {
	if math.IsNaN(q) || q < 0 || q > 1 || len(h) < 2 || !math.IsInf(h[len(h)-1].upper, +1) {
		return math.NaN()
	}
	total := float64(h.count())
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	// The first finite bucket reaching the rank; the +Inf one if none does.
	b := len(h) - 1
	for i, bk := range h[:len(h)-1] {
		if float64(bk.cumulative) >= rank {
			b = i
			break
		}
	}
	if b == len(h)-1 {
		return h[len(h)-2].upper
	}
	if b == 0 && h[0].upper <= 0 {
		return h[0].upper
	}
	start, end := 0.0, h[b].upper
	inBucket := float64(h[b].cumulative)
	if b > 0 {
		start = h[b-1].upper
		inBucket -= float64(h[b-1].cumulative)
		rank -= float64(h[b-1].cumulative)
	}
	return start + (end-start)*rank/inBucket
}
