package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// protoAccept asks a shim for the delimited protobuf exposition: exact
// values, no float formatting round trip, cheapest to decode.
const protoAccept = expfmt.ProtoFmt + " encoding=delimited"

// shimSocket is a prometheus.Gatherer for one shim's metrics socket.
type shimSocket struct {
	path    string
	client  *http.Client
	timeout time.Duration
}

// newShimClient returns an HTTP client that dials the unix socket a
// request's host names (see shimSocket.Gather) rather than TCP.
func newShimClient() *http.Client {
	var dialer net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, "unix", socketFromHost(host))
		},
		// Shims come and go; idle connections to them would pile up.
		DisableKeepAlives: true,
	}}
}

// The socket path travels as the request's host, hex-encoded: paths hold
// characters a host cannot.
func hostForSocket(path string) string { return fmt.Sprintf("%x", path) }

func socketFromHost(host string) string {
	var path []byte
	if _, err := fmt.Sscanf(host, "%x", &path); err != nil {
		return host
	}
	return string(path)
}

// Gather implements prometheus.Gatherer: one scrape of the shim, bounded by
// the socket's timeout.
func (s shimSocket) Gather() ([]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostForSocket(s.path)+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", protoAccept)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", s.path, classifyDialError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The shim is there but failing: an error to count, unlike a
		// vanished shim.
		return nil, fmt.Errorf("scrape %s: %s: %w", s.path, resp.Status, errdefs.ErrInternal)
	}
	return decodeFamilies(resp.Body, expfmt.ResponseFormat(resp.Header))
}

// classifyDialError tags the errors that mean the shim is gone: its socket
// vanished (ErrNotFound) or nobody listens on it any more (ErrUnavailable).
func classifyDialError(err error) error {
	// The URL's host is the hex-encoded path, which the caller names
	// already in readable form.
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
	}
	return err
}

// decodeFamilies reads an exposition to its end.
func decodeFamilies(r io.Reader, format expfmt.Format) ([]*dto.MetricFamily, error) {
	dec := expfmt.NewDecoder(r, format)
	var out []*dto.MetricFamily
	for {
		f := &dto.MetricFamily{}
		if err := dec.Decode(f); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("decode metrics: %w", err)
		}
		out = append(out, f)
	}
}

// readFinal reads a final file a shim left as it exited.
func readFinal(path string) ([]*dto.MetricFamily, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeFamilies(f, expfmt.NewFormat(expfmt.TypeProtoDelim))
}

// shimFiles is one listing of the metrics directory, by shim (pid).
type shimFiles struct {
	sockets map[string]string
	finals  map[string]string
}

// listShimFiles lists dir's sockets and final files. A missing directory is
// an empty one: no shim has started on this node yet.
func listShimFiles(dir string) (shimFiles, error) {
	files := shimFiles{sockets: map[string]string{}, finals: map[string]string{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return files, nil
		}
		return files, err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		if pid, ok := strings.CutSuffix(name, socketSuffix); ok && e.Type()&os.ModeSocket != 0 {
			files.sockets[pid] = filepath.Join(dir, name)
		} else if pid, ok := strings.CutSuffix(name, finalSuffix); ok && e.Type().IsRegular() {
			files.finals[pid] = filepath.Join(dir, name)
		}
	}
	return files, nil
}
