package main

import (
	"slices"
	"strings"
	"testing"
)

func TestShimPhaseCountMismatch(t *testing.T) {
	tests := []struct {
		name              string
		samples           uint64
		succeeded, failed int
		wantProblem       bool
	}{
		{"one per run", 40, 40, 0, false},
		{"one missing", 39, 40, 0, true},
		{"one extra", 41, 40, 0, true},
		{"a failed run that got as far as the shim", 41, 40, 1, false},
		{"a failed run that did not", 40, 40, 1, false},
		{"more than the failed runs explain", 42, 40, 1, true},
		{"nothing recorded", 0, 10, 0, true},
		{"nothing ran", 0, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := shimPhase{Samples: tc.samples}.countMismatch(tc.succeeded, tc.failed)
			if (got != "") != tc.wantProblem {
				t.Errorf("countMismatch = %q, want a problem: %v", got, tc.wantProblem)
			}
		})
	}
}

func TestLatencyProblems(t *testing.T) {
	tests := []struct {
		name string
		shim shimLatency
		want []string
	}{
		{"records fit", shimLatency{Succeeded: 4, FirstInstruction: shimPhase{Samples: 4}, CreateRPC: shimPhase{Samples: 4}}, nil},
		{"first instruction short", shimLatency{Succeeded: 4, FirstInstruction: shimPhase{Samples: 3}, CreateRPC: shimPhase{Samples: 4}},
			[]string{"latency shim first_instruction: 3 samples for 4 successful runs (0 failed)"}},
		{"unreadable records hide the counts", shimLatency{Succeeded: 4, Error: "gather: boom"},
			[]string{"latency shim records: gather: boom"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &report{Latency: &latencyResult{Runs: 2, Shim: tc.shim}}
			if got := r.problems(); !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
