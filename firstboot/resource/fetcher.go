package resource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/ignition/v2/config/v3_6/types"
)

// Defaults of a Fetcher. Ignition's own: 10 s for the response headers, backoff from 200 ms
// doubling up to 5 s. Ignition has no total bound by default (it retries for ever); a
// Fetcher gives up after DefaultTotal, so that a machine whose config cannot be fetched
// fails its first boot instead of hanging.
const (
	DefaultResponseHeaderTimeout = 10 * time.Second
	DefaultTotal                 = 5 * time.Minute
	DefaultInitialBackoff        = 200 * time.Millisecond
	DefaultMaxBackoff            = 5 * time.Second
	// MaxRedirects bounds the redirects one request follows.
	MaxRedirects = 10
	// MaxConfigSize bounds a fetched config (the machine's own or a referenced one).
	MaxConfigSize = 16 << 20
)

var (
	// ErrUnpinnedHTTP refuses an http: source without verification.hash; no request is made.
	ErrUnpinnedHTTP = errors.New("http source without verification.hash refused (use https or pin the hash)")
	// ErrStatus is wrapped by StatusError.
	ErrStatus = errors.New("unexpected http status")
	// ErrRedirect refuses a redirect to another scheme or host.
	ErrRedirect = errors.New("redirect to another scheme or host refused")
	// ErrTimeout reports a fetch that did not succeed within its total time.
	ErrTimeout = errors.New("timed out")
	// ErrCA reports a certificate authority that is not a PEM bundle of certificates.
	ErrCA = errors.New("bad certificate authority")
)

// StatusError is an HTTP answer other than 200 OK that retrying does not change.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("http status %d %s", e.Code, http.StatusText(e.Code))
}

func (e *StatusError) Unwrap() error { return ErrStatus }

// IsNotFound says whether err is an HTTP 404 answer.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// Fetcher gets resources over HTTP(S) with Ignition's semantics: its timeouts
// (ignition.timeouts), certificate authorities (ignition.security.tls, trusted in addition
// to the system's) and proxy (ignition.proxy) come from Configure. Redirects are followed
// only to the same scheme and host (and port) as the first request, at most MaxRedirects.
// Connection errors and 5xx answers are retried with a doubling backoff until the total
// time is spent; TLS verification errors, redirects refused and other statuses are final.
// The zero value is ready to use, with the system's trust roots.
type Fetcher struct {
	// Transport is cloned into every client the fetcher builds; nil: a new http.Transport.
	// It is the seam tests use; its Proxy and TLS roots are replaced.
	Transport *http.Transport
	// SystemRoots gives the trust roots the config's certificate authorities are added to;
	// nil: x509.SystemCertPool.
	SystemRoots func() (*x509.CertPool, error)
	// ResponseHeaderTimeout bounds the wait for an answer's headers; 0: the default.
	ResponseHeaderTimeout time.Duration
	// Total bounds one fetch, every retry included; 0: DefaultTotal.
	Total time.Duration
	// InitialBackoff and MaxBackoff shape the wait between attempts; 0: the defaults.
	InitialBackoff, MaxBackoff time.Duration
	// Logf reports attempts (scheme and host only, never paths, queries or headers).
	Logf func(format string, args ...any)

	roots *x509.CertPool // nil: the system's
	proxy func(*http.Request) (*url.URL, error)
}

// Configure returns a copy of f set up as the config's ignition section says: timeouts,
// certificate authorities (fetched with f) and proxy. f is not changed.
func (f *Fetcher) Configure(ctx context.Context, ign types.Ignition) (*Fetcher, error) {
	g := *f
	if t := ign.Timeouts.HTTPResponseHeaders; t != nil && *t > 0 {
		g.ResponseHeaderTimeout = time.Duration(*t) * time.Second
	}
	if t := ign.Timeouts.HTTPTotal; t != nil && *t > 0 {
		g.Total = time.Duration(*t) * time.Second
	}
	g.proxy = proxyFunc(ign.Proxy)
	g.roots = nil
	if cas := ign.Security.TLS.CertificateAuthorities; len(cas) > 0 {
		pool, err := f.systemRoots()
		if err != nil {
			return nil, err
		}
		for i, ca := range cas {
			b, err := f.Contents(ctx, ca)
			if err != nil {
				return nil, fmt.Errorf("certificateAuthorities[%d]: %w", i, err)
			}
			if err := addPEM(pool, b); err != nil {
				return nil, fmt.Errorf("certificateAuthorities[%d]: %w", i, err)
			}
		}
		g.roots = pool
	}
	return &g, nil
}

func (f *Fetcher) systemRoots() (*x509.CertPool, error) {
	if f.SystemRoots != nil {
		return f.SystemRoots()
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		f.logf("no system trust roots (%v): only the config's certificate authorities are trusted", err)
		return x509.NewCertPool(), nil
	}
	return pool, nil
}

// addPEM adds every certificate of a PEM bundle; anything else in it is an error.
func addPEM(pool *x509.CertPool, b []byte) error {
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("%w: PEM block %q", ErrCA, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCA, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 || strings.TrimSpace(string(b)) != "" {
		return fmt.Errorf("%w: not a PEM bundle of certificates", ErrCA)
	}
	return nil
}

// Contents returns the bytes a resource stands for: data: in place, https: and hash-pinned
// http: fetched, then decompressed and checked against verification.hash. An http: source
// without a hash is refused before any request.
func (f *Fetcher) Contents(ctx context.Context, r types.Resource) ([]byte, error) {
	return f.contents(ctx, r, MaxSize)
}

// Config is Contents for a referenced config: bounded by MaxConfigSize.
func (f *Fetcher) Config(ctx context.Context, r types.Resource) ([]byte, error) {
	return f.contents(ctx, r, MaxConfigSize)
}

func (f *Fetcher) contents(ctx context.Context, r types.Resource, max int64) ([]byte, error) {
	if r.Source == nil {
		return nil, nil
	}
	u, err := url.Parse(*r.Source)
	if err != nil {
		return nil, errors.New("source is not a URL") // the parse error quotes it
	}
	switch strings.ToLower(u.Scheme) {
	case "data":
		return Contents(r)
	case "https":
	case "http":
		if r.Verification.Hash == nil {
			return nil, ErrUnpinnedHTTP
		}
	default:
		return nil, ErrScheme
	}
	headers, err := r.HTTPHeaders.Parse()
	if err != nil {
		return nil, errors.New("bad httpHeaders")
	}
	raw, err := f.Get(ctx, Request{URL: u, Headers: headers, MaxSize: max})
	if err != nil {
		return nil, err
	}
	return Decode(raw, r)
}

// Request is one HTTP request of Get.
type Request struct {
	Method  string // "": GET
	URL     *url.URL
	Headers http.Header
	MaxSize int64 // 0: MaxSize
}

// Get makes the request, retrying connection errors and 5xx answers with backoff until the
// fetcher's total time is spent, and returns the body of the 200 OK answer. Other answers
// are a *StatusError.
func (f *Fetcher) Get(ctx context.Context, req Request) ([]byte, error) {
	total := f.Total
	if total <= 0 {
		total = DefaultTotal
	}
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	client := f.client()
	defer client.CloseIdleConnections()
	backoff := orDefault(f.InitialBackoff, DefaultInitialBackoff)
	where := Redact(req.URL)
	for attempt := 1; ; attempt++ {
		b, retry, err := f.once(ctx, client, req)
		if err == nil {
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w after %d attempts in %s: %w", where, ErrTimeout, attempt, total, err)
		}
		if !retry {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		f.logf("fetch %s: attempt %d: %v; again in %s", where, attempt, err, backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w after %d attempts in %s: %w", where, ErrTimeout, attempt, total, err)
		}
		backoff = min(backoff*2, orDefault(f.MaxBackoff, DefaultMaxBackoff))
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// once is one attempt; retry says whether another attempt may succeed.
func (f *Fetcher) once(ctx context.Context, client *http.Client, req Request) (b []byte, retry bool, err error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	hreq, err := http.NewRequestWithContext(ctx, method, req.URL.String(), nil)
	if err != nil {
		return nil, false, errors.New("bad request")
	}
	hreq.Header.Set("User-Agent", "mantlet-firstboot")
	for k, vs := range req.Headers {
		hreq.Header.Del(k)
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	resp, err := client.Do(hreq)
	if err != nil {
		err = unwrapURLError(err)
		var cve *tls.CertificateVerificationError
		final := errors.Is(err, ErrRedirect) || errors.As(err, &cve) || errors.Is(err, errTooManyRedirects)
		return nil, !final, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return nil, true, &StatusError{resp.StatusCode}
	case resp.StatusCode != http.StatusOK:
		return nil, false, &StatusError{resp.StatusCode}
	}
	max := req.MaxSize
	if max <= 0 {
		max = MaxSize
	}
	if resp.ContentLength > max {
		return nil, false, fmt.Errorf("%w: %d bytes announced, at most %d", ErrTooLarge, resp.ContentLength, max)
	}
	b, err = io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, true, fmt.Errorf("read body: %w", unwrapURLError(err))
	}
	if int64(len(b)) > max {
		return nil, false, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return b, false, nil
}

var errTooManyRedirects = fmt.Errorf("more than %d redirects", MaxRedirects)

// unwrapURLError drops the *url.Error around a client error: it quotes the whole URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (f *Fetcher) client() *http.Client {
	var t *http.Transport
	if f.Transport != nil {
		t = f.Transport.Clone()
	} else {
		t = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 30 * time.Second,
			MaxIdleConns:        4,
			IdleConnTimeout:     30 * time.Second,
		}
	}
	t.Proxy = f.proxy
	t.ResponseHeaderTimeout = orDefault(f.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	tc := t.TLSClientConfig
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	tc.MinVersion = tls.VersionTLS12
	if f.roots != nil {
		tc.RootCAs = f.roots
	} else if f.SystemRoots != nil {
		pool, err := f.SystemRoots()
		if err == nil {
			tc.RootCAs = pool
		}
	}
	t.TLSClientConfig = tc
	return &http.Client{Transport: t, CheckRedirect: checkRedirect}
}

// checkRedirect follows a redirect only to the scheme and host (with port) of the first
// request: a pinned host cannot send the agent elsewhere, and https never falls back to
// http.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= MaxRedirects {
		return errTooManyRedirects
	}
	first := via[0].URL
	if !strings.EqualFold(req.URL.Scheme, first.Scheme) || !strings.EqualFold(req.URL.Host, first.Host) {
		return ErrRedirect
	}
	return nil
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Logf != nil {
		f.Logf(format, args...)
	}
}

// Redact names a URL by scheme and host only: paths and queries may hold secrets.
func Redact(u *url.URL) string {
	if u == nil {
		return "(no URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
