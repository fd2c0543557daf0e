package metrics

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// counterReading is a shim's reading of one counter and one histogram.
func counterReading(count float64, observations ...float64) seriesSet {
	h := &dto.Histogram{SampleCount: proto.Uint64(uint64(len(observations))), SampleSum: proto.Float64(0)}
	for _, bound := range []float64{0.01, 0.1, 1} {
		var n uint64
		for _, o := range observations {
			if o <= bound {
				n++
			}
		}
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(bound), CumulativeCount: proto.Uint64(n)})
	}
	for _, o := range observations {
		h.SampleSum = proto.Float64(h.GetSampleSum() + o)
	}
	fams := []*dto.MetricFamily{
		{Name: proto.String("c_total"), Help: proto.String("c"), Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{{
			Label:   []*dto.LabelPair{{Name: proto.String("result"), Value: proto.String("hit")}},
			Counter: &dto.Counter{Value: proto.Float64(count)},
		}}},
		{Name: proto.String("h_seconds"), Help: proto.String("h"), Type: dto.MetricType_HISTOGRAM.Enum(), Metric: []*dto.Metric{{Histogram: h}}},
	}
	return newSeriesSet(fams, func(*dto.MetricFamily) bool { return true })
}

func TestNodeTotals(t *testing.T) {
	type step struct {
		shim    string
		reading seriesSet
		// keep, when non-nil, is the next listing: shims present.
		keep []string
	}
	tests := []struct {
		name      string
		steps     []step
		wantCount float64
		wantObs   uint64
	}{
		{"one shim grows", []step{
			{shim: "1", reading: counterReading(1, 0.005)},
			{shim: "1", reading: counterReading(3, 0.005, 0.5)},
		}, 3, 2},
		{"two shims add up", []step{
			{shim: "1", reading: counterReading(2, 0.005)},
			{shim: "2", reading: counterReading(5, 0.05, 0.5)},
		}, 7, 3},
		{"a shim that exits leaves its counts", []step{
			{shim: "1", reading: counterReading(2, 0.005)},
			{shim: "2", reading: counterReading(5, 0.05)},
			{keep: []string{"2"}},
			{shim: "2", reading: counterReading(6, 0.05)},
		}, 8, 2},
		{"a reused pid starts from zero", []step{
			{shim: "1", reading: counterReading(4, 0.005, 0.005)},
			{shim: "1", reading: counterReading(1, 0.5)},
		}, 5, 3},
		{"a final file after the last scrape adds the difference", []step{
			{shim: "1", reading: counterReading(2, 0.005)},
			{shim: "1", reading: counterReading(3, 0.005, 0.05)}, // the final file
			{keep: []string{}},
		}, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			totals := newNodeTotals()
			for _, s := range tt.steps {
				if s.keep != nil {
					present := map[string]bool{}
					for _, shim := range s.keep {
						present[shim] = true
					}
					totals.keepOnly(present)
					continue
				}
				totals.observe(s.shim, s.reading)
			}
			fams := totals.sum().families()
			if got := mustValue(t, fams, "c_total", map[string]string{"result": "hit"}); got != tt.wantCount {
				t.Errorf("counter %g, want %g", got, tt.wantCount)
			}
			h := series(fams, "h_seconds", nil)[0].GetHistogram()
			if h.GetSampleCount() != tt.wantObs {
				t.Errorf("histogram count %d, want %d", h.GetSampleCount(), tt.wantObs)
			}
			var last uint64
			for _, b := range h.GetBucket() {
				if b.GetCumulativeCount() < last || b.GetCumulativeCount() > h.GetSampleCount() {
					t.Errorf("buckets not cumulative: %v", h.GetBucket())
				}
				last = b.GetCumulativeCount()
			}
		})
	}
}

// Summing must not alias: the totals of one scrape are not changed by the
// next readings.
func TestNodeTotalsSumIsACopy(t *testing.T) {
	totals := newNodeTotals()
	totals.observe("1", counterReading(1))
	first := totals.sum().families()
	totals.observe("1", counterReading(10))
	totals.keepOnly(map[string]bool{})
	_ = totals.sum()
	if got := mustValue(t, first, "c_total", nil); got != 1 {
		t.Errorf("an earlier sum changed to %g", got)
	}
}

// Shims built with other buckets still add up in count and sum, and the
// buckets stay sorted.
func TestAddHistogramMismatchedBuckets(t *testing.T) {
	dst := &dto.Histogram{SampleCount: proto.Uint64(2), SampleSum: proto.Float64(1), Bucket: []*dto.Bucket{
		{UpperBound: proto.Float64(0.1), CumulativeCount: proto.Uint64(1)},
		{UpperBound: proto.Float64(1), CumulativeCount: proto.Uint64(2)},
	}}
	src := &dto.Histogram{SampleCount: proto.Uint64(3), SampleSum: proto.Float64(2), Bucket: []*dto.Bucket{
		{UpperBound: proto.Float64(0.05), CumulativeCount: proto.Uint64(1)},
		{UpperBound: proto.Float64(1), CumulativeCount: proto.Uint64(3)},
	}}
	addHistogram(dst, src)
	if dst.GetSampleCount() != 5 || dst.GetSampleSum() != 3 {
		t.Errorf("count %d sum %g, want 5 and 3", dst.GetSampleCount(), dst.GetSampleSum())
	}
	var bounds []float64
	for _, b := range dst.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	if len(bounds) != 3 || bounds[0] != 0.05 || bounds[1] != 0.1 || bounds[2] != 1 {
		t.Errorf("bounds %v, want [0.05 0.1 1]", bounds)
	}
	if got := dst.GetBucket()[2].GetCumulativeCount(); got != 5 {
		t.Errorf("le=1 holds %d, want 5", got)
	}
}

func TestRegressed(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur seriesSet
		want      bool
	}{
		{"same", counterReading(1, 0.1), counterReading(1, 0.1), false},
		{"grew", counterReading(1, 0.1), counterReading(2, 0.1, 0.2), false},
		{"counter dropped", counterReading(2, 0.1), counterReading(1, 0.1), true},
		{"histogram dropped", counterReading(1, 0.1, 0.1), counterReading(1, 0.1), true},
		{"series vanished", counterReading(1), seriesSet{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := regressed(tt.prev, tt.cur); got != tt.want {
				t.Errorf("regressed = %v, want %v", got, tt.want)
			}
		})
	}
}
