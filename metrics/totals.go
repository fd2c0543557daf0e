package metrics

// nodeTotals sums the cumulative shim-wide series (counters, histograms) of
// every shim the exporter has seen. Shims exit with their pods, taking their
// counters with them; summing only live shims would make node totals drop,
// which Prometheus reads as a reset and turns into a bogus spike. So a shim
// that goes away leaves its last values behind in retired.
type nodeTotals struct {
	retired seriesSet
	// live holds each present shim's last reading, by shim (pid).
	live map[string]seriesSet
}

func newNodeTotals() *nodeTotals {
	return &nodeTotals{retired: seriesSet{}, live: map[string]seriesSet{}}
}

// observe records a reading of shim's cumulative series. A reading lower
// than the previous one comes from a new process under a reused pid: the
// old one's values are retired and the new one counted from its start.
func (t *nodeTotals) observe(shim string, reading seriesSet) {
	if prev, ok := t.live[shim]; ok && regressed(prev, reading) {
		t.retired.add(prev)
	}
	t.live[shim] = reading
}

// keepOnly retires every shim not in present: its socket and final file
// are both gone, so no further reading will come.
func (t *nodeTotals) keepOnly(present map[string]bool) {
	for shim, last := range t.live {
		if !present[shim] {
			t.retired.add(last)
			delete(t.live, shim)
		}
	}
}

// sum returns the node totals: retired shims plus the live ones.
func (t *nodeTotals) sum() seriesSet {
	out := t.retired.clone()
	for _, s := range t.live {
		out.add(s)
	}
	return out
}
