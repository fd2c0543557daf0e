package main

import (
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// hist builds a histogram from pairs of upper bound and cumulative count.
func hist(pairs ...float64) histogram {
	out := histogram{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, bucket{upper: pairs[i], cumulative: uint64(pairs[i+1])})
	}
	return out
}

var inf = math.Inf(+1)

func TestHistogramQuantile(t *testing.T) {
	tests := []struct {
		name string
		h    histogram
		q    float64
		want float64
	}{
		{"interpolates inside the median's bucket", hist(0.001, 0, 0.002, 2, 0.003, 6, 0.004, 10, inf, 10), 0.5, 0.00275},
		{"first bucket starts at zero", hist(0.001, 4, inf, 4), 0.5, 0.0005},
		{"rank on a boundary is that bound", hist(0.001, 5, 0.002, 10, inf, 10), 0.5, 0.001},
		{"skips empty buckets below", hist(0.001, 0, 0.002, 0, 0.004, 4, inf, 4), 0.5, 0.003},
		{"p95 near the top", hist(0.01, 10, 0.02, 20, inf, 20), 0.95, 0.019},
		{"rank in +Inf yields the highest finite bound", hist(0.001, 1, 0.005, 2, inf, 5), 0.5, 0.005},
		{"non-positive first bound is returned", hist(0, 3, 1, 4, inf, 4), 0.5, 0},
		{"one sample", hist(0.004, 0, 0.005, 1, inf, 1), 0.5, 0.0045},
		{"no observations", hist(0.001, 0, inf, 0), 0.5, math.NaN()},
		{"only +Inf", hist(inf, 3), 0.5, math.NaN()},
		{"no +Inf bucket", hist(0.001, 1, 0.002, 2), 0.5, math.NaN()},
		{"q above 1", hist(0.001, 1, inf, 1), 1.5, math.NaN()},
		{"q below 0", hist(0.001, 1, inf, 1), -0.1, math.NaN()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.h.quantile(tc.q)
			if math.IsNaN(tc.want) {
				if !math.IsNaN(got) {
					t.Errorf("quantile(%v) = %v, want NaN", tc.q, got)
				}
				return
			}
			if math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

func TestHistogramSince(t *testing.T) {
	tests := []struct {
		name           string
		later, earlier histogram
		want           histogram
		wantErr        bool
	}{
		{"bucket by bucket", hist(0.001, 3, 0.002, 7, inf, 9), hist(0.001, 1, 0.002, 2, inf, 2), hist(0.001, 2, 0.002, 5, inf, 7), false},
		{"no earlier series", hist(0.001, 3, inf, 4), nil, hist(0.001, 3, inf, 4), false},
		{"nothing new", hist(0.001, 3, inf, 4), hist(0.001, 3, inf, 4), hist(0.001, 0, inf, 0), false},
		{"a count went down", hist(0.001, 1, inf, 4), hist(0.001, 2, inf, 3), nil, true},
		{"other bounds", hist(0.001, 1, inf, 1), hist(0.0025, 0, inf, 0), nil, true},
		{"other bucket count", hist(0.001, 1, 0.002, 1, inf, 1), hist(0.001, 0, inf, 0), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.later.since(tc.earlier)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %v, want %v", got, tc.want)
					break
				}
			}
		})
	}
}

func TestHistogramFromProto(t *testing.T) {
	h := &dto.Histogram{
		SampleCount: proto.Uint64(5),
		Bucket: []*dto.Bucket{
			{UpperBound: proto.Float64(0.002), CumulativeCount: proto.Uint64(3)},
			{UpperBound: proto.Float64(0.001), CumulativeCount: proto.Uint64(1)},
		},
	}
	want := hist(0.001, 1, 0.002, 3, inf, 5)
	got := histogramFromProto(h)
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
			break
		}
	}
	if got.count() != 5 {
		t.Errorf("count %d, want 5", got.count())
	}
}
