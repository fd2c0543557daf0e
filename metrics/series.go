package metrics

import (
	"slices"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// seriesSet holds shim-wide series (no instance labels) so several shims'
// values can be added up: counters, gauges and classic histograms, keyed by
// family name and label signature.
type seriesSet map[string]*seriesFamily

// seriesFamily is one family of a seriesSet.
type seriesFamily struct {
	help   string
	typ    dto.MetricType
	series map[string]*dto.Metric
}

// addable reports whether a family's values can be summed across shims.
// Summaries cannot (quantiles do not add up) and are left out.
func addable(t dto.MetricType) bool {
	switch t {
	case dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_UNTYPED, dto.MetricType_HISTOGRAM:
		return true
	}
	return false
}

// cumulative reports whether a family only grows while its shim lives, so
// its node total must outlive the shim.
func cumulative(t dto.MetricType) bool {
	return t == dto.MetricType_COUNTER || t == dto.MetricType_HISTOGRAM
}

// newSeriesSet copies the families of fams that keep picks.
func newSeriesSet(fams []*dto.MetricFamily, keep func(*dto.MetricFamily) bool) seriesSet {
	s := seriesSet{}
	for _, f := range fams {
		if keep(f) {
			s.addFamily(f)
		}
	}
	return s
}

// addFamily adds f's series into s.
func (s seriesSet) addFamily(f *dto.MetricFamily) {
	sf, ok := s[f.GetName()]
	if !ok {
		sf = &seriesFamily{help: f.GetHelp(), typ: f.GetType(), series: map[string]*dto.Metric{}}
		s[f.GetName()] = sf
	}
	if sf.typ != f.GetType() {
		// Shims of different versions disagreeing on a type: the first wins.
		return
	}
	for _, m := range f.GetMetric() {
		sig := signature(m.GetLabel())
		if have, ok := sf.series[sig]; ok {
			addMetric(have, m)
			continue
		}
		sf.series[sig] = ownCopy(m)
	}
}

// add adds every series of o into s.
func (s seriesSet) add(o seriesSet) {
	for name, of := range o {
		s.addFamily(of.family(name))
	}
}

// clone returns a deep copy of s.
func (s seriesSet) clone() seriesSet {
	out := seriesSet{}
	out.add(s)
	return out
}

// regressed reports whether cur cannot be a later reading of the same shim
// as prev: a series went missing or a cumulative value went down. Then cur
// comes from another process that reused the pid.
func regressed(prev, cur seriesSet) bool {
	for name, pf := range prev {
		cf, ok := cur[name]
		if !ok {
			return true
		}
		for sig, pm := range pf.series {
			cm, ok := cf.series[sig]
			if !ok {
				return true
			}
			if cm.GetCounter().GetValue() < pm.GetCounter().GetValue() ||
				cm.GetHistogram().GetSampleCount() < pm.GetHistogram().GetSampleCount() {
				return true
			}
		}
	}
	return false
}

// families renders s for exposition, in a stable order.
func (s seriesSet) families() []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(s))
	for name, sf := range s {
		out = append(out, sf.family(name))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// family renders one family, its series sorted by signature.
func (sf *seriesFamily) family(name string) *dto.MetricFamily {
	sigs := make([]string, 0, len(sf.series))
	for sig := range sf.series {
		sigs = append(sigs, sig)
	}
	slices.Sort(sigs)
	f := &dto.MetricFamily{Name: proto.String(name), Help: proto.String(sf.help), Type: sf.typ.Enum()}
	for _, sig := range sigs {
		f.Metric = append(f.Metric, sf.series[sig])
	}
	return f
}

// signature is a canonical key for a label set.
func signature(labels []*dto.LabelPair) string {
	pairs := make([]string, 0, len(labels))
	for _, l := range labels {
		pairs = append(pairs, l.GetName()+"\xff"+l.GetValue())
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "\xfe")
}

// ownCopy copies m without what does not survive summing: timestamps that
// belong to one shim's series.
func ownCopy(m *dto.Metric) *dto.Metric {
	c := proto.Clone(m).(*dto.Metric)
	c.TimestampMs = nil
	if c.Counter != nil {
		c.Counter.CreatedTimestamp = nil
	}
	if c.Histogram != nil {
		c.Histogram.CreatedTimestamp = nil
	}
	return c
}

// addMetric adds src's value into dst, which has the same type and labels.
func addMetric(dst, src *dto.Metric) {
	switch {
	case dst.Counter != nil:
		dst.Counter.Value = proto.Float64(dst.Counter.GetValue() + src.GetCounter().GetValue())
		dst.Counter.Exemplar = newerExemplar(dst.Counter.Exemplar, src.GetCounter().GetExemplar())
	case dst.Gauge != nil:
		dst.Gauge.Value = proto.Float64(dst.Gauge.GetValue() + src.GetGauge().GetValue())
	case dst.Untyped != nil:
		dst.Untyped.Value = proto.Float64(dst.Untyped.GetValue() + src.GetUntyped().GetValue())
	case dst.Histogram != nil:
		addHistogram(dst.Histogram, src.GetHistogram())
	}
}

// addHistogram adds src's observations into dst. Buckets are matched by
// upper bound; a bound only src has is added in place, so shims built with
// other buckets still add up in count and sum.
func addHistogram(dst, src *dto.Histogram) {
	dst.SampleCount = proto.Uint64(dst.GetSampleCount() + src.GetSampleCount())
	dst.SampleSum = proto.Float64(dst.GetSampleSum() + src.GetSampleSum())
	for _, sb := range src.GetBucket() {
		i, found := slices.BinarySearchFunc(dst.Bucket, sb.GetUpperBound(), func(b *dto.Bucket, bound float64) int {
			switch {
			case b.GetUpperBound() < bound:
				return -1
			case b.GetUpperBound() > bound:
				return 1
			}
			return 0
		})
		if found {
			db := dst.Bucket[i]
			db.CumulativeCount = proto.Uint64(db.GetCumulativeCount() + sb.GetCumulativeCount())
			db.Exemplar = newerExemplar(db.Exemplar, sb.GetExemplar())
			continue
		}
		nb := proto.Clone(sb).(*dto.Bucket)
		dst.Bucket = slices.Insert(dst.Bucket, i, nb)
	}
}

// newerExemplar keeps the most recent of two exemplars.
func newerExemplar(a, b *dto.Exemplar) *dto.Exemplar {
	if b == nil {
		return a
	}
	if a == nil || b.GetTimestamp().AsTime().After(a.GetTimestamp().AsTime()) {
		return proto.Clone(b).(*dto.Exemplar)
	}
	return a
}
