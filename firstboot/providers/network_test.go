package providers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mantlet/mantlet/firstboot/internal/fixture"
	"github.com/mantlet/mantlet/firstboot/resource"
	"github.com/mantlet/mantlet/internal/command"
)

const userData = `{"ignition":{"version":"3.4.0"}}`

// metadataServer fakes the metadata services of aws, gcp and openstack on 127.0.0.1.
type metadataServer struct {
	*httptest.Server
	hits     atomic.Int32
	userData string // "": 404
	fail     int32  // the first requests fail with 503
}

func newMetadataServer(t *testing.T, userData string, fail int32) *metadataServer {
	t.Helper()
	m := &metadataServer{userData: userData, fail: fail}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.Close)
	return m
}

func (m *metadataServer) serve(w http.ResponseWriter, r *http.Request) {
	if m.hits.Add(1) <= m.fail {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	send := func() {
		if m.userData == "" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, m.userData)
	}
	switch r.URL.Path {
	case AWSTokenPath:
		if r.Method != http.MethodPut || r.Header.Get(AWSTokenTTL) == "" {
			http.Error(w, "bad token request", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, "tok-123")
	case AWSUserDataPath:
		if r.Header.Get(AWSToken) != "tok-123" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		send()
	case GCPUserDataPath:
		if r.Header.Get("Metadata-Flavor") != "Google" {
			http.Error(w, "missing header", http.StatusForbidden)
			return
		}
		send()
	case OpenStackUserDataPath, "/config.ign":
		send()
	default:
		http.NotFound(w, r)
	}
}

func TestMetadataProviders(t *testing.T) {
	tests := []struct {
		provider string
		userData string
		fail     int32
		noConfig bool
	}{
		{provider: "aws", userData: userData},
		{provider: "aws", noConfig: true},
		{provider: "aws", userData: userData, fail: 2},
		{provider: "gcp", userData: userData},
		{provider: "gcp", noConfig: true},
		{provider: "gcp", userData: userData, fail: 2},
		{provider: "openstack", userData: userData},
		{provider: "openstack", noConfig: true},
		{provider: "openstack", userData: userData, fail: 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/data=%v/fail=%d", tt.provider, tt.userData != "", tt.fail), func(t *testing.T) {
			srv := newMetadataServer(t, tt.userData, tt.fail)
			p, err := Get(tt.provider)
			if err != nil {
				t.Fatal(err)
			}
			env := Env{Fetcher: fixture.LoopbackFetcher(), DevDir: t.TempDir(), Runner: &command.Recorder{},
				Endpoints: Endpoints{AWS: srv.URL, GCP: srv.URL, OpenStack: srv.URL + "/"}}
			got, err := p.Fetch(context.Background(), env)
			if tt.noConfig {
				if !errors.Is(err, ErrNoConfig) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || string(got) != userData {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

func TestMetadataDown(t *testing.T) {
	srv := newMetadataServer(t, userData, 1<<30)
	f := fixture.LoopbackFetcher()
	f.Total = 300 * time.Millisecond
	p, _ := Get("gcp")
	_, err := p.Fetch(context.Background(), Env{Fetcher: f, Endpoints: Endpoints{GCP: srv.URL}})
	if !errors.Is(err, resource.ErrTimeout) || errors.Is(err, ErrNoConfig) {
		t.Fatalf("err = %v", err)
	}
}

func TestMetal(t *testing.T) {
	srv := newMetadataServer(t, userData, 2)
	sum := sha256.Sum256([]byte(userData))
	hash := "sha256-" + hex.EncodeToString(sum[:])
	tests := []struct {
		name     string
		cmdline  string
		want     error
		noConfig bool
		hits     int32
	}{
		{name: "no url", noConfig: true},
		{name: "http pinned, retried while the server comes up", cmdline: "ignition.config.url=" + srv.URL + "/config.ign ignition.config.hash=" + hash, hits: 3},
		{name: "http unpinned refused before any request", cmdline: "ignition.config.url=" + srv.URL + "/config.ign", want: resource.ErrUnpinnedHTTP},
		{name: "wrong hash", cmdline: "ignition.config.url=" + srv.URL + "/config.ign ignition.config.hash=sha256-" + strings.Repeat("00", 32), want: resource.ErrHash, hits: 3},
		{name: "missing config is a failure", cmdline: "ignition.config.url=" + srv.URL + "/nope ignition.config.hash=" + hash, want: resource.ErrStatus, hits: 3},
	}
	p, _ := Get("metal")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.hits.Store(0)
			got, err := p.Fetch(context.Background(), Env{Cmdline: ParseCmdline(tt.cmdline), Fetcher: fixture.LoopbackFetcher()})
			switch {
			case tt.noConfig:
				if !errors.Is(err, ErrNoConfig) {
					t.Fatalf("err = %v", err)
				}
			case tt.want != nil:
				if !errors.Is(err, tt.want) || errors.Is(err, ErrNoConfig) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			case err != nil || string(got) != userData:
				t.Fatalf("got %q, %v", got, err)
			}
			if h := srv.hits.Load(); h != tt.hits {
				t.Fatalf("server saw %d requests, want %d", h, tt.hits)
			}
		})
	}
}

// TestConfigDrive: the config drive wins over the metadata service, which is not asked.
func TestConfigDrive(t *testing.T) {
	srv := newMetadataServer(t, `{"from":"metadata"}`, 0)
	dev := t.TempDir()
	os.MkdirAll(filepath.Join(dev, "disk/by-label"), 0o755)
	os.WriteFile(filepath.Join(dev, "disk/by-label", ConfigDriveLabel), nil, 0o644)
	for _, hasUserData := range []bool{true, false} {
		rec := &command.Recorder{Respond: func(c command.Cmd) ([]byte, error) {
			if c.Name == "mount" && hasUserData {
				dir := filepath.Join(c.Args[len(c.Args)-1], "openstack/latest")
				os.MkdirAll(dir, 0o755)
				return nil, os.WriteFile(filepath.Join(dir, "user_data"), []byte(userData), 0o644)
			}
			if c.Name == "umount" {
				return nil, os.RemoveAll(filepath.Join(c.Args[0], "openstack"))
			}
			return nil, nil
		}}
		p, _ := Get("openstack")
		got, err := p.Fetch(context.Background(), Env{DevDir: dev, Runner: rec, Fetcher: fixture.LoopbackFetcher(), Endpoints: Endpoints{OpenStack: srv.URL}})
		if hasUserData && (err != nil || string(got) != userData) || !hasUserData && !errors.Is(err, ErrNoConfig) {
			t.Fatalf("user data %v: got %q, %v", hasUserData, got, err)
		}
		if len(rec.Calls) != 2 {
			t.Fatalf("calls %v", rec.Calls)
		}
		dir := rec.Calls[0].Args[len(rec.Calls[0].Args)-1]
		dev := filepath.Join(dev, "disk/by-label", ConfigDriveLabel)
		if !reflect.DeepEqual(rec.Calls, []command.Cmd{MountCmd(dev, dir), UmountCmd(dir)}) ||
			rec.Calls[0].String() != "mount -o ro,nodev,nosuid,noexec "+dev+" "+dir {
			t.Fatalf("calls %v", rec.Calls)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatal("mount point left behind")
		}
	}
	if srv.hits.Load() != 0 {
		t.Fatal("the metadata service was asked")
	}
}
