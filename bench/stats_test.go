package main

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.95, 7 * time.Millisecond},
		{"odd median, unsorted", ms(9, 1, 5), 0.5, 5 * time.Millisecond},
		{"even median is the mean of the middle two", ms(4, 1, 3, 2), 0.5, 2500 * time.Microsecond},
		{"p95 interpolates", ms(0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100), 0.95, 95 * time.Millisecond},
		{"max", ms(3, 8, 1), 1, 8 * time.Millisecond},
		{"min", ms(3, 8, 1), 0, 1 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantile(tc.samples, tc.q); got != tc.want {
				t.Errorf("quantile(%v, %v) = %v, want %v", tc.samples, tc.q, got, tc.want)
			}
		})
	}
}

func TestQuantileLeavesSamplesAlone(t *testing.T) {
	s := []time.Duration{3, 1, 2}
	quantile(s, 0.5)
	if s[0] != 3 || s[1] != 1 || s[2] != 2 {
		t.Errorf("samples reordered: %v", s)
	}
}

func TestRatio(t *testing.T) {
	tests := []struct{ a, b, want float64 }{
		{6, 3, 2},
		{1, 4, 0.25},
		{5, 0, 0},
	}
	for _, tc := range tests {
		if got := ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("ratio(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
