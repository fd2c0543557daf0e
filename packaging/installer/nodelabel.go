package installer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// Label is the node label the installer sets once the runtime works on a
// node; the RuntimeClass schedules wasm pods onto nodes that carry it.
const (
	LabelKey   = "wasmedge.io/runtime"
	LabelValue = "true"
)

// serviceAccountDir is where Kubernetes mounts a pod's API credentials.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// NodeLabeler sets and removes labels on a Node through the Kubernetes
// API. It speaks plain HTTP rather than pulling in client-go, whose size
// would dwarf the rest of the installer.
type NodeLabeler struct {
	// Server is the API server's base URL.
	Server string
	// TokenFile holds the bearer token; it is read on every request
	// because projected service account tokens are rotated.
	TokenFile string
	// Client sends the requests (trusting the cluster CA).
	Client *http.Client
}

// InClusterNodeLabeler uses the pod's service account.
func InClusterNodeLabeler() (*NodeLabeler, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, fmt.Errorf("%w: KUBERNETES_SERVICE_HOST/PORT are unset: not running in a pod", errdefs.ErrFailedPrecondition)
	}
	ca, err := os.ReadFile(serviceAccountDir + "/ca.crt")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%w: no certificate in %s/ca.crt", errdefs.ErrInvalidArgument, serviceAccountDir)
	}
	return &NodeLabeler{
		Server:    "https://" + net.JoinHostPort(host, port),
		TokenFile: serviceAccountDir + "/token",
		Client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
	}, nil
}

// SetLabel sets key=value on the node.
func (l *NodeLabeler) SetLabel(ctx context.Context, node, key, value string) error {
	return l.patchLabels(ctx, node, map[string]*string{key: &value})
}

// RemoveLabel removes key from the node; a label already gone is fine.
func (l *NodeLabeler) RemoveLabel(ctx context.Context, node, key string) error {
	return l.patchLabels(ctx, node, map[string]*string{key: nil})
}

// patchLabels sends a JSON merge patch, in which null deletes a key.
func (l *NodeLabeler) patchLabels(ctx context.Context, node string, labels map[string]*string) error {
	if node == "" {
		return fmt.Errorf("%w: node name is empty", errdefs.ErrInvalidArgument)
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch,
		strings.TrimSuffix(l.Server, "/")+"/api/v1/nodes/"+url.PathEscape(node), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set("Accept", "application/json")
	if l.TokenFile != "" {
		token, err := os.ReadFile(l.TokenFile)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	client := l.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("patching node %s: %w", node, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var category error
	switch resp.StatusCode {
	case http.StatusNotFound:
		category = errdefs.ErrNotFound
	case http.StatusUnauthorized:
		category = errdefs.ErrUnauthenticated
	case http.StatusForbidden:
		category = errdefs.ErrPermissionDenied
	default:
		category = errdefs.ErrUnknown
	}
	return fmt.Errorf("%w: patching node %s: %s: %s", category, node, resp.Status, strings.TrimSpace(string(msg)))
}
