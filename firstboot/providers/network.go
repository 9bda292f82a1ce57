package providers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/mantlet/mantlet/firstboot/resource"
)

// Endpoints are the base URLs of the metadata services (scheme and host, no trailing
// slash). A zero field takes the platform's address; tests set them to httptest servers.
type Endpoints struct {
	AWS       string // http://169.254.169.254
	GCP       string // http://metadata.google.internal
	OpenStack string // http://169.254.169.254
}

// The platforms' own metadata addresses.
const (
	DefaultAWSEndpoint       = "http://169.254.169.254"
	DefaultGCPEndpoint       = "http://metadata.google.internal"
	DefaultOpenStackEndpoint = "http://169.254.169.254"
)

func orEndpoint(s, def string) string {
	if s == "" {
		return def
	}
	return strings.TrimSuffix(s, "/")
}

func (e Env) fetcher() *resource.Fetcher {
	if e.Fetcher != nil {
		return e.Fetcher
	}
	return &resource.Fetcher{}
}

// get fetches base+path from a metadata service. A 404 answer means no config.
func (e Env) get(ctx context.Context, base, path, method string, headers http.Header) ([]byte, error) {
	u, err := url.Parse(base + path)
	if err != nil {
		return nil, fmt.Errorf("bad metadata endpoint: %w", err)
	}
	b, err := e.fetcher().Get(ctx, resource.Request{Method: method, URL: u, Headers: headers, MaxSize: resource.MaxConfigSize})
	if resource.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s answers 404 for %s", ErrNoConfig, resource.Redact(u), path)
	}
	return b, err
}
