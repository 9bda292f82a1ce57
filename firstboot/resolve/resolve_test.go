package resolve

import (
	"context"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mantlet/mantlet/firstboot/config"
	"github.com/mantlet/mantlet/firstboot/resource"
)

type configServer struct {
	*httptest.Server
	configs map[string]string
	hits    atomic.Int32
}

func newConfigServer(t *testing.T, configs map[string]string) *configServer {
	t.Helper()
	s := &configServer{configs: configs}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		c, ok := s.configs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		c = strings.ReplaceAll(c, "CAURL", s.ca())
		w.Write([]byte(strings.ReplaceAll(c, "SERVER", s.URL)))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *configServer) ca() string {
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	return "data:," + url.PathEscape(string(b))
}

func hashOf(s string) string {
	sum := sha512.Sum512([]byte(s))
	return "sha512-" + hex.EncodeToString(sum[:])
}

func fetcher() *resource.Fetcher {
	return &resource.Fetcher{Total: 30 * time.Second, InitialBackoff: 10 * time.Millisecond,
		SystemRoots: func() (*x509.CertPool, error) { return x509.NewCertPool(), nil }}
}

func files(c config.Config) map[string]string {
	m := map[string]string{}
	for _, f := range c.Storage.Files {
		src := ""
		if f.Contents.Source != nil {
			src = *f.Contents.Source
		}
		m[f.Path] = src
	}
	return m
}

func TestResolve(t *testing.T) {
	const child = `{"ignition":{"version":"3.0.0"},"storage":{"files":[{"path":"/a","contents":{"source":"data:,child"}},{"path":"/b"}]}}`
	const grandchild = `{"ignition":{"version":"3.6.0"},"storage":{"files":[{"path":"/c"}]}}`
	const nested = `{"ignition":{"version":"3.2.0","config":{"merge":[{"source":"SERVER/grandchild.ign"}]}},"storage":{"files":[{"path":"/n"}]}}`
	const replacement = `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/r"}]}}`
	// as in Ignition, a referenced config's own references are fetched with its own CAs
	const loop = `{"ignition":{"version":"3.4.0","security":{"tls":{"certificateAuthorities":[{"source":"CAURL"}]}},"config":{"merge":[{"source":"SERVER/loop.ign"}]}}}`
	srv := newConfigServer(t, map[string]string{
		"/child.ign": child, "/grandchild.ign": grandchild, "/nested.ign": nested,
		"/replacement.ign": replacement, "/loop.ign": loop,
	})
	ca := srv.ca()
	// top renders a machine's config with the test CA
	top := func(ignition string, rest string) string {
		return strings.ReplaceAll(`{"ignition":{"version":"3.3.0","security":{"tls":{"certificateAuthorities":[{"source":"`+ca+`"}]}}`+ignition+`}`+rest+`}`, "SERVER", srv.URL)
	}
	parentFiles := `,"storage":{"files":[{"path":"/a","contents":{"source":"data:,parent"}},{"path":"/p"}]}`
	tests := []struct {
		name  string
		raw   string
		want  map[string]string
		err   error
		inRep bool // the error is in the report
		hits  int32
	}{
		{name: "merge", raw: top(`,"config":{"merge":[{"source":"SERVER/child.ign","verification":{"hash":"`+hashOf(child)+`"}}]}`, parentFiles),
			want: map[string]string{"/a": "data:,child", "/b": "", "/p": ""}, hits: 1},
		{name: "nested merge", raw: top(`,"config":{"merge":[{"source":"SERVER/nested.ign"},{"source":"SERVER/child.ign"}]}`, parentFiles),
			want: map[string]string{"/a": "data:,child", "/b": "", "/p": "", "/n": "", "/c": ""}, hits: 3},
		{name: "replace", raw: top(`,"config":{"replace":{"source":"SERVER/replacement.ign"},"merge":[{"source":"SERVER/child.ign"}]}`, parentFiles),
			want: map[string]string{"/r": ""}, hits: 1},
		{name: "wrong hash", raw: top(`,"config":{"merge":[{"source":"SERVER/child.ign","verification":{"hash":"`+hashOf("other")+`"}}]}`, ""),
			err: resource.ErrHash, hits: 1},
		{name: "missing", raw: top(`,"config":{"replace":{"source":"SERVER/nope.ign"}}`, ""), err: resource.ErrStatus, hits: 1},
		{name: "loop", raw: top(`,"config":{"merge":[{"source":"SERVER/loop.ign"}]}`, ""), err: ErrTooDeep, hits: MaxDepth + 1},
		{name: "http without hash refused before any request", raw: top(`,"config":{"merge":[{"source":"`+strings.Replace(srv.URL, "https", "http", 1)+`/child.ign"}]}`, ""),
			err: config.ErrInvalid, inRep: true, hits: 0},
		{name: "no CA, no trust", raw: strings.ReplaceAll(`{"ignition":{"version":"3.3.0","config":{"merge":[{"source":"SERVER/child.ign"}]}}}`, "SERVER", srv.URL),
			err: errCert, hits: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.hits.Store(0)
			if !json.Valid([]byte(tt.raw)) {
				t.Fatalf("bad test config %s", tt.raw)
			}
			res, err := Resolve(context.Background(), fetcher(), []byte(tt.raw))
			if h := srv.hits.Load(); h != tt.hits {
				t.Errorf("server saw %d requests, want %d", h, tt.hits)
			}
			if tt.err == errCert {
				if err == nil || !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.inRep != (len(res.Report.Errors) > 0) {
				t.Fatalf("report %v", res.Report)
			}
			if err != nil {
				if strings.Contains(err.Error(), "child.ign") {
					t.Fatalf("error quotes the URL's path: %v", err)
				}
				return
			}
			got := files(res.Config)
			if len(got) != len(tt.want) {
				t.Fatalf("files %v, want %v", got, tt.want)
			}
			for p, src := range tt.want {
				if g, ok := got[p]; !ok || g != src {
					t.Fatalf("files %v, want %v", got, tt.want)
				}
			}
			if res.Fetcher == nil {
				t.Fatal("no fetcher")
			}
		})
	}
}

var errCert = errors.New("certificate error")

// TestResolveChildProblems: a referenced config's problems are reported with where it was
// referenced from.
func TestResolveChildProblems(t *testing.T) {
	srv := newConfigServer(t, map[string]string{"/bad.ign": `{"ignition":{"version":"3.4.0"},"storage":{"luks":[{"name":"x","device":"/dev/vdb"}]}}`})
	raw := `{"ignition":{"version":"3.4.0","security":{"tls":{"certificateAuthorities":[{"source":"` + srv.ca() + `"}]}},"config":{"merge":[{"source":"` + srv.URL + `/bad.ign"}]}}}`
	res, err := Resolve(context.Background(), fetcher(), []byte(raw))
	if !errors.Is(err, config.ErrInvalid) || len(res.Report.Errors) != 1 || res.Report.Errors[0].Path != "$.ignition.config.merge[0]→$.storage.luks" {
		t.Fatalf("%v %v", err, res.Report.Errors)
	}
}
