package metrics

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// DefaultShimTimeout bounds one shim's scrape; a shim slower than that is
// counted as a scrape error rather than holding up the node's scrape.
const DefaultShimTimeout = 2 * time.Second

// maxConcurrentShims bounds how many shims one scrape reads at once.
const maxConcurrentShims = 16

// Exporter serves the merged metrics of every shim on a node. It is a
// prometheus.Gatherer: each Gather scrapes the shims' sockets anew.
type Exporter struct {
	dir     string
	timeout time.Duration
	client  *http.Client

	own          *prometheus.Registry
	shims        prometheus.Gauge
	scrapeErrors prometheus.Counter

	// mu serializes scrapes: totals must see shims' readings in order.
	mu     sync.Mutex
	totals *nodeTotals
}

// NewExporter returns an exporter for the shims whose sockets are in dir
// (MetricsDir(dir) resolves an empty one), each scrape of a shim bounded by
// timeout (DefaultShimTimeout when 0).
func NewExporter(dir string, timeout time.Duration) *Exporter {
	if timeout <= 0 {
		timeout = DefaultShimTimeout
	}
	e := &Exporter{
		dir:     MetricsDir(dir),
		timeout: timeout,
		client:  newShimClient(),
		own:     prometheus.NewRegistry(),
		shims: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wasmedge_shim_exporter_shims",
			Help: "Shims whose metrics the last scrape read.",
		}),
		scrapeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wasmedge_shim_exporter_scrape_errors_total",
			Help: "Scrapes of a shim's socket that failed (timeout, bad answer) and were left out.",
		}),
		totals: newNodeTotals(),
	}
	e.own.MustRegister(e.shims, e.scrapeErrors)
	return e
}

// shimReading is one shim's answer to a scrape.
type shimReading struct {
	shim     string
	families []*dto.MetricFamily
	err      error
}

// Gather implements prometheus.Gatherer: it scrapes every shim socket in
// the directory, folds in final files of shims that exited, and merges the
// shims' per-instance series with the node totals and its own series.
func (e *Exporter) Gather() ([]*dto.MetricFamily, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	files, err := listShimFiles(e.dir)
	if err != nil {
		return nil, fmt.Errorf("list shims: %w", err)
	}

	readings := e.scrapeShims(files.sockets)
	gatherers := prometheus.Gatherers{e.own}
	gauges := seriesSet{}
	present := map[string]bool{}
	answered := 0
	for _, r := range readings {
		switch {
		case r.err == nil:
		case errors.Is(r.err, errdefs.ErrNotFound):
			// Exited between the listing and the scrape.
			continue
		case errors.Is(r.err, errdefs.ErrUnavailable):
			// A shim killed outright leaves its socket behind.
			_ = os.Remove(files.sockets[r.shim])
			continue
		default:
			e.scrapeErrors.Inc()
			log.Printf("metrics exporter: %v", r.err)
			// Keep its totals: it may answer next time.
			present[r.shim] = true
			continue
		}
		answered++
		present[r.shim] = true
		var instances []*dto.MetricFamily
		for _, f := range r.families {
			if isInstanceFamily(f) {
				instances = append(instances, f)
			} else if !cumulative(f.GetType()) && addable(f.GetType()) {
				gauges.addFamily(f)
			}
		}
		e.totals.observe(r.shim, newSeriesSet(r.families, isShimCumulative))
		gatherers = append(gatherers, staticGatherer(instances))
	}
	// After the sockets: a final file is the last reading of its shim.
	for shim, path := range files.finals {
		families, err := readFinal(path)
		if err != nil {
			e.scrapeErrors.Inc()
			log.Printf("metrics exporter: final metrics %s: %v", path, err)
		} else {
			e.totals.observe(shim, newSeriesSet(families, isShimCumulative))
		}
		present[shim] = true
		_ = os.Remove(path)
	}
	e.totals.keepOnly(present)
	e.shims.Set(float64(answered))

	node := e.totals.sum()
	node.add(gauges)
	gatherers = append(gatherers, staticGatherer(node.families()))
	return gatherers.Gather()
}

// isShimCumulative picks the series node totals keep across shim exits.
func isShimCumulative(f *dto.MetricFamily) bool {
	return cumulative(f.GetType()) && !isInstanceFamily(f)
}

// staticGatherer gathers families read earlier, so prometheus.Gatherers can
// merge them with the checks it applies (no duplicate series, consistent
// types and help).
func staticGatherer(families []*dto.MetricFamily) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, nil })
}

// scrapeShims gathers from every socket at once, a few at a time.
func (e *Exporter) scrapeShims(sockets map[string]string) []shimReading {
	readings := make([]shimReading, 0, len(sockets))
	var mu sync.Mutex
	var wg sync.WaitGroup
	limit := make(chan struct{}, maxConcurrentShims)
	for shim, path := range sockets {
		wg.Go(func() {
			limit <- struct{}{}
			defer func() { <-limit }()
			families, err := shimSocket{path: path, client: e.client, timeout: e.timeout}.Gather()
			mu.Lock()
			readings = append(readings, shimReading{shim: shim, families: families, err: err})
			mu.Unlock()
		})
	}
	wg.Wait()
	return readings
}

// Handler serves /metrics (the merged node view) and /healthz.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(e, promhttp.HandlerOpts{
		// One bad shim must not blank the node's metrics.
		ErrorHandling:     promhttp.ContinueOnError,
		ErrorLog:          log.Default(),
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// Serve announces the exporter in the metrics directory (so exiting shims
// leave their final counts) and serves Handler on l until ctx ends.
func (e *Exporter) Serve(ctx context.Context, l net.Listener) error {
	if err := os.MkdirAll(e.dir, 0o700); err != nil {
		l.Close()
		return fmt.Errorf("metrics directory: %w", err)
	}
	marker := filepath.Join(e.dir, exporterMarkerName)
	if err := os.WriteFile(marker, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		l.Close()
		return fmt.Errorf("announce exporter: %w", err)
	}
	defer os.Remove(marker)

	server := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- server.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return server.Shutdown(sctx)
}
