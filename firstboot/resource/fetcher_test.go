package resource

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/ignition/v2/config/v3_6/types"
)

// testFetcher retries fast and trusts nothing but the config's certificate authorities.
func testFetcher() *Fetcher {
	return &Fetcher{
		InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Total: 60 * time.Second,
		SystemRoots: func() (*x509.CertPool, error) { return x509.NewCertPool(), nil },
	}
}

// server is an httptest server on 127.0.0.1 that counts its requests.
type server struct {
	*httptest.Server
	hits atomic.Int32
}

func newServer(t *testing.T, tls bool, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	})
	if tls {
		s.Server = httptest.NewTLSServer(wrapped)
	} else {
		s.Server = httptest.NewServer(wrapped)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
}

func dataURL(s string) string { return "data:," + url.PathEscape(s) }

func sha512Of(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + hex.EncodeToString(sum[:])
}

func res(src string) types.Resource { return types.Resource{Source: &src} }

func withCA(t *testing.T, f *Fetcher, ca string) *Fetcher {
	t.Helper()
	var ign types.Ignition
	ign.Security.TLS.CertificateAuthorities = []types.Resource{res(dataURL(ca))}
	g, err := f.Configure(context.Background(), ign)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestFetchHTTPS(t *testing.T) {
	const body = "top-secret contents"
	srv := newServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cr3t" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		w.Write([]byte(body))
	})
	f := withCA(t, testFetcher(), srv.caPEM())
	r := res(srv.URL + "/file?token=qwerty")
	r.HTTPHeaders = types.HTTPHeaders{{Name: "Authorization", Value: strPtr("Bearer s3cr3t")}}
	got, err := f.Contents(context.Background(), r)
	if err != nil || string(got) != body {
		t.Fatalf("got %q, %v", got, err)
	}

	// without the header: 403, final, and the error quotes neither path nor query
	_, err = f.Contents(context.Background(), res(srv.URL+"/file?token=qwerty"))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 403 || strings.Contains(err.Error(), "qwerty") || strings.Contains(err.Error(), "/file") {
		t.Fatalf("err = %v", err)
	}

	// the CA is trusted in addition to the (here empty) system roots, never without it
	start := time.Now()
	_, err = testFetcher().Contents(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted server: err = %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatal("a TLS verification error was retried")
	}
}

func strPtr(s string) *string { return &s }

func TestFetchCAFromPinnedHTTP(t *testing.T) {
	tlsSrv := newServer(t, true, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	ca := tlsSrv.caPEM()
	caSrv := newServer(t, false, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(ca)) })
	var ign types.Ignition
	r := res(caSrv.URL + "/ca.pem")
	r.Verification.Hash = strPtr(sha512Of([]byte(ca)))
	ign.Security.TLS.CertificateAuthorities = []types.Resource{r}
	f, err := testFetcher().Configure(context.Background(), ign)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Contents(context.Background(), res(tlsSrv.URL)); err != nil || string(got) != "ok" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestBadCA(t *testing.T) {
	for _, ca := range []string{"", "not pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		var ign types.Ignition
		ign.Security.TLS.CertificateAuthorities = []types.Resource{res(dataURL(ca))}
		if _, err := testFetcher().Configure(context.Background(), ign); !errors.Is(err, ErrCA) {
			t.Errorf("CA %q: err = %v", ca, err)
		}
	}
}

func TestFetchHostile(t *testing.T) {
	const body = "hello"
	big := bytes.Repeat([]byte("x"), 4096)
	other := newServer(t, false, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) })
	var flaky atomic.Int32
	srv := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(body))
		case "/big":
			w.Write(big)
		case "/big-chunked":
			for range 4 {
				w.Write(big[:1024])
				w.(http.Flusher).Flush()
			}
		case "/away":
			http.Redirect(w, r, other.URL+"/ok", http.StatusFound)
		case "/here":
			http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/flaky":
			if flaky.Add(1) < 3 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte(body))
		case "/down":
			http.Error(w, "down", http.StatusBadGateway)
		case "/gone":
			http.NotFound(w, r)
		}
	})
	pinned := func(path string, hash string) types.Resource {
		r := res(srv.URL + path)
		r.Verification.Hash = &hash
		return r
	}
	good := sha512Of([]byte(body))
	tests := []struct {
		name    string
		r       types.Resource
		max     int64 // > 0: Get with this MaxSize instead of Contents
		total   time.Duration
		want    error
		hits    int32 // requests srv should see; -1: do not check
		otherOK bool  // other may see a request
	}{
		{name: "pinned http", r: pinned("/ok", good), hits: 1},
		{name: "wrong hash", r: pinned("/ok", sha512Of([]byte("else"))), want: ErrHash, hits: 1},
		{name: "unpinned http refused before any request", r: res(srv.URL + "/ok"), want: ErrUnpinnedHTTP, hits: 0},
		{name: "huge body announced", r: res(srv.URL + "/big"), max: 1024, want: ErrTooLarge, hits: 1},
		{name: "huge body chunked", r: res(srv.URL + "/big-chunked"), max: 1024, want: ErrTooLarge, hits: 1},
		{name: "redirect to another host", r: pinned("/away", good), want: ErrRedirect, hits: 1},
		{name: "redirect on the same host", r: pinned("/here", good), hits: 2},
		{name: "redirect loop", r: pinned("/loop", good), want: errTooManyRedirects, hits: MaxRedirects},
		{name: "5xx then 200", r: pinned("/flaky", good), hits: 3},
		{name: "5xx until the total time", r: pinned("/down", good), total: 500 * time.Millisecond, want: ErrTimeout, hits: -1},
		{name: "404 is final", r: pinned("/gone", good), want: ErrStatus, hits: 1},
		{name: "unsupported scheme", r: res("tftp://127.0.0.1/x"), want: ErrScheme, hits: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.hits.Store(0)
			other.hits.Store(0)
			f := testFetcher()
			if tt.total > 0 {
				f.Total = tt.total
			}
			var got []byte
			var err error
			if tt.max > 0 {
				u, _ := url.Parse(*tt.r.Source)
				got, err = f.Get(context.Background(), Request{URL: u, MaxSize: tt.max})
			} else {
				got, err = f.Contents(context.Background(), tt.r)
			}
			if tt.want == nil && (err != nil || string(got) != body) {
				t.Fatalf("got %q, %v", got, err)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if h := srv.hits.Load(); tt.hits >= 0 && h != tt.hits {
				t.Fatalf("server saw %d requests, want %d", h, tt.hits)
			}
			if other.hits.Load() != 0 {
				t.Fatal("the other host was asked")
			}
		})
	}
}

// TestFetchSlow: a server that does not answer is bounded by the response header timeout
// (each attempt) and the total time (all of them).
func TestFetchSlow(t *testing.T) {
	srv := newServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/trickle" {
			for {
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	one, three := 1, 3
	tests := []struct {
		name         string
		path         string
		headers      *int
		total        *int
		minHits      int32
		longestTotal time.Duration
	}{
		{name: "headers timeout, retried until total", path: "/hang", headers: &one, total: &three, minHits: 2, longestTotal: 20 * time.Second},
		{name: "total bounds one slow request", path: "/hang", total: &one, minHits: 1, longestTotal: 15 * time.Second},
		{name: "total bounds a trickling body", path: "/trickle", total: &one, minHits: 1, longestTotal: 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.hits.Store(0)
			var ign types.Ignition
			ign.Timeouts.HTTPResponseHeaders, ign.Timeouts.HTTPTotal = tt.headers, tt.total
			f, err := testFetcher().Configure(context.Background(), ign)
			if err != nil {
				t.Fatal(err)
			}
			r := res(srv.URL + tt.path)
			r.Verification.Hash = strPtr(sha512Of(nil))
			start := time.Now()
			_, err = f.Contents(context.Background(), r)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v", err)
			}
			if d := time.Since(start); d < time.Duration(*tt.total)*time.Second || d > tt.longestTotal {
				t.Fatalf("gave up after %s", d)
			}
			if srv.hits.Load() < tt.minHits {
				t.Fatalf("%d requests", srv.hits.Load())
			}
		})
	}
}

func TestFetchGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("unzipped"))
	zw.Close()
	srv := newServer(t, true, func(w http.ResponseWriter, r *http.Request) { w.Write(buf.Bytes()) })
	r := res(srv.URL)
	r.Compression = strPtr("gzip")
	r.Verification.Hash = strPtr(sha512Of([]byte("unzipped"))) // of the decompressed bytes, as in Ignition
	got, err := withCA(t, testFetcher(), srv.caPEM()).Contents(context.Background(), r)
	if err != nil || string(got) != "unzipped" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestNoProxy: ignition.proxy.noProxy means what it means to Ignition (httpproxy's
// NO_PROXY): domains with their subdomains, a leading "." for subdomains only, IP addresses
// and CIDR blocks, host:port entries for that port only, "*"; loopback is never proxied.
func TestNoProxy(t *testing.T) {
	items := []types.NoProxyItem{"example.com", ".internal", "10.0.0.0/8", "192.168.1.1", "git.example.org:8443", "[2001:db8::1]:443", "fd00::/8"}
	httpsProxy, httpProxy := "http://proxy:3128", "http://plain-proxy:3128"
	pf := proxyFunc(types.Proxy{HTTPSProxy: &httpsProxy, HTTPProxy: &httpProxy, NoProxy: items})
	for u, want := range map[string]string{
		"https://a.org/x":                 httpsProxy,
		"http://a.org/x":                  httpProxy,
		"https://example.com/":            "",
		"https://a.example.com/":          "",
		"https://badexample.com/":         httpsProxy,
		"https://x.internal/":             "",
		"https://internal/":               httpsProxy, // a leading dot: subdomains only
		"https://10.2.3.4/":               "",
		"https://192.168.1.1/":            "",
		"https://192.168.1.2/":            httpsProxy,
		"https://git.example.org:8443/c":  "", // host:port: that port only
		"https://git.example.org/c":       httpsProxy,
		"https://[2001:db8::1]/":          "",
		"https://[2001:db8::2]/":          httpsProxy,
		"https://[fd00::5]:8080/":         "",
		"https://127.0.0.1:8080/metadata": "", // loopback never
		"https://localhost/":              "",
		"http://[::1]/":                   "",
	} {
		parsed, _ := url.Parse(u)
		got, err := pf(&http.Request{URL: parsed})
		if err != nil || (got == nil) != (want == "") || got != nil && got.String() != want {
			t.Errorf("proxy for %s = %v, %v; want %q", u, got, err, want)
		}
	}
	star := proxyFunc(types.Proxy{HTTPSProxy: &httpsProxy, NoProxy: []types.NoProxyItem{"*"}})
	if got, _ := star(&http.Request{URL: &url.URL{Scheme: "https", Host: "anything"}}); got != nil {
		t.Errorf("* does not match: %v", got)
	}
	if proxyFunc(types.Proxy{}) != nil {
		t.Error("a proxy without one configured")
	}
}
