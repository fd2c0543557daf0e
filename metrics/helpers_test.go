package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sample is one series' value as a test looks for it: a counter's or
// gauge's value, or a histogram's sample count.
func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// matches reports whether m has every label in want (an empty want value
// means the label must be absent or empty).
func matches(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// series returns the series of family name that carry the labels want.
func series(fams []*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m, want) {
				out = append(out, m)
			}
		}
	}
	return out
}

// mustValue returns the value of the single series of name with labels
// want, failing the test if there is not exactly one.
func mustValue(t *testing.T, fams []*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	got := series(fams, name, want)
	if len(got) != 1 {
		t.Fatalf("%s%v: %d series, want 1", name, want, len(got))
	}
	return sampleValue(got[0])
}

// gather gathers g, failing the test on error.
func gather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return fams
}

// familyNames lists the names of fams.
func familyNames(fams []*dto.MetricFamily) map[string]dto.MetricType {
	out := map[string]dto.MetricType{}
	for _, f := range fams {
		out[f.GetName()] = f.GetType()
	}
	return out
}
