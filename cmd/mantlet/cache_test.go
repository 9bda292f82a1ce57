package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/build"
	"github.com/mantlet/mantlet/internal/pipeline"
)

func storeLayer(t *testing.T, cacheDir, key string, size int) {
	t.Helper()
	c, err := build.OpenLayerCache(cacheDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Begin(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p.Path(), make([]byte, size), 0o600)
	l, err := p.Commit(context.Background(), "node bookworm/amd64, 2 packages", nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestCacheListAndPrune(t *testing.T) {
	dir := t.TempDir()
	storeLayer(t, dir, strings.Repeat("a", 64), 3<<20)
	time.Sleep(10 * time.Millisecond)
	storeLayer(t, dir, strings.Repeat("b", 64), 2<<20)
	out, err := runCLI(t, "cache", "list", "--cache-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "bbbbbbbbbbbb  2 MiB") || strings.Index(out, "bbbbbbbbbbbb") > strings.Index(out, "aaaaaaaaaaaa") ||
		!strings.Contains(out, "2 layer(s), 5 MiB of 10.0 GiB") {
		t.Fatalf("list:\n%s", out)
	}
	if out, err = runCLI(t, "cache", "prune", "--cache-dir", dir, "--max-size", "2MiB"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "removed aaaaaaaaaaaa") || !strings.Contains(out, "1 layer(s) removed, 3 MiB freed") {
		t.Fatalf("prune to 2 MiB:\n%s", out)
	}
	if out, err = runCLI(t, "cache", "prune", "--cache-dir", dir, "--all"); err != nil || !strings.Contains(out, "removed bbbbbbbbbbbb") {
		t.Fatalf("prune --all: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "cache", "prune", "--cache-dir", dir, "--max-size", "lots"); err == nil || !strings.Contains(err.Error(), `--max-size "lots": not a size`) {
		t.Fatalf("bad size: %v", err)
	}
}

func TestBuildCacheMaxSizeFlag(t *testing.T) {
	t.Setenv("MANTLET_CACHE_MAX_SIZE", "")
	if n, err := cacheMaxSize("20GiB"); err != nil || n != 20<<30 {
		t.Fatalf("got %d, %v", n, err)
	}
	t.Setenv("MANTLET_CACHE_MAX_SIZE", "-3")
	if _, err := cacheMaxSize(""); err == nil || !strings.Contains(err.Error(), "MANTLET_CACHE_MAX_SIZE") {
		t.Fatalf("bad environment: %v", err)
	}
}

// A cached step says so, with its key, in the step line and in --json.
func TestReportersSayCached(t *testing.T) {
	ev := pipeline.Event{Step: "rootfs", Index: 6, Total: 15, Status: "finished", Elapsed: 1200 * time.Millisecond, Cached: true, Key: strings.Repeat("c", 64)}
	var text, js bytes.Buffer
	textReporter(&text)(ev)
	jsonReporter(&js)(ev)
	if got := text.String(); got != "[6/15] rootfs    cached (key cccccccccccc) in 1.2s\n" {
		t.Errorf("text: %q", got)
	}
	if got := js.String(); !strings.Contains(got, `"cached":true`) || !strings.Contains(got, `"key":"`+strings.Repeat("c", 64)+`"`) {
		t.Errorf("json: %s", got)
	}
	text.Reset()
	textReporter(&text)(pipeline.Event{Step: "rootfs", Index: 6, Total: 15, Status: "finished", Elapsed: 71 * time.Second, Key: "dddddddddddddd", Note: "stored in the cache"})
	if got := text.String(); got != "[6/15] rootfs    done in 1m11s (key dddddddddddd, stored in the cache)\n" {
		t.Errorf("text: %q", got)
	}
}
