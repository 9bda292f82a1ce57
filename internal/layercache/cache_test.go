package layercache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func key(n int) string { return fmt.Sprintf("%064x", n) }

// store writes data as the layer of key k.
func store(t *testing.T, c *Cache, k string, data []byte) *Entry {
	t.Helper()
	ctx := context.Background()
	p, err := c.Begin(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Path(), data, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := p.Commit(ctx, "test layer", map[string]int{"n": len(data)})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return &l.Entry
}

func get(t *testing.T, c *Cache, k string) ([]byte, error) {
	t.Helper()
	l, err := c.Get(context.Background(), k)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(l.File)
	return b.Bytes(), err
}

func TestStoreAndGet(t *testing.T) {
	c, err := Open(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("layer "), 1000)
	e := store(t, c, key(1), data)
	if e.Size != int64(len(data)) || len(e.Chunks) != 1 || e.Digest == "" || string(e.Meta) != `{"n":6000}` {
		t.Fatalf("entry: %+v", e)
	}
	got, err := get(t, c, key(1))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %v", err)
	}
	if _, err := get(t, c, key(2)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("miss: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(c.Dir(), key(1)+".tar"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("layer file mode %v: a root tree must not be readable by all", fi.Mode())
	}
	if _, err := c.Get(context.Background(), "../x"); err == nil {
		t.Error("a key that is not a digest was accepted")
	}
}

// TestCorruptLayerIsNeverUsed flips a byte, cuts a file short and removes one: each is found,
// removed from the index and reported, and the next look-up is a plain miss.
func TestCorruptLayerIsNeverUsed(t *testing.T) {
	for name, spoil := range map[string]func(path string){
		"flipped byte": func(p string) {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o600)
		},
		"truncated": func(p string) { os.Truncate(p, 100) },
		"missing":   func(p string) { os.Remove(p) },
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := Open(t.TempDir(), 0)
			store(t, c, key(1), bytes.Repeat([]byte{7}, 5000))
			spoil(filepath.Join(c.Dir(), key(1)+".tar"))
			_, err := get(t, c, key(1))
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Key != key(1) {
				t.Fatalf("got %v, want a CorruptError", err)
			}
			if list, _ := c.List(context.Background()); len(list) != 0 {
				t.Errorf("the corrupt layer is still listed: %+v", list)
			}
			if _, err := get(t, c, key(1)); !errors.Is(err, ErrNotFound) {
				t.Errorf("second look-up: %v", err)
			}
		})
	}
}

func TestUnreadableIndexDropsLayers(t *testing.T) {
	c, _ := Open(t.TempDir(), 0)
	store(t, c, key(1), []byte("data"))
	os.WriteFile(filepath.Join(c.Dir(), indexName), []byte(`{"version":1,"layers":[{"key":`), 0o600)
	if _, err := get(t, c, key(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir(), key(1)+".tar")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the layer file the index no longer vouches for was kept")
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c, _ := Open(t.TempDir(), 2500)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { clock = clock.Add(time.Minute); return clock }
	store(t, c, key(1), make([]byte, 1000))
	store(t, c, key(2), make([]byte, 1000))
	if _, err := get(t, c, key(1)); err != nil { // 1 is now used more recently than 2
		t.Fatal(err)
	}
	store(t, c, key(3), make([]byte, 1000)) // 3000 > 2500: 2 goes
	keys := listKeys(t, c)
	if strings.Join(keys, ",") != key(3)+","+key(1) {
		t.Fatalf("after eviction: %v", keys)
	}
	store(t, c, key(4), make([]byte, 4000)) // larger than the limit alone: only it stays
	if keys := listKeys(t, c); len(keys) != 1 || keys[0] != key(4) {
		t.Fatalf("a layer larger than the limit: %v", keys)
	}
	gone, err := c.Prune(context.Background(), 0)
	if err != nil || len(gone) != 1 || len(listKeys(t, c)) != 0 {
		t.Fatalf("prune all: %v, %v", gone, err)
	}
}

func listKeys(t *testing.T, c *Cache) []string {
	t.Helper()
	list, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range list {
		keys = append(keys, e.Key)
	}
	return keys
}

// The helper process: MANTLET_LAYERCACHE_HELPER says what to do in which cache.
func TestMain(m *testing.M) {
	if h := os.Getenv("MANTLET_LAYERCACHE_HELPER"); h != "" {
		os.Exit(helper(h))
	}
	os.Exit(m.Run())
}

func helper(spec string) int {
	f := strings.Split(spec, ",")
	c, err := Open(f[1], 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	n, _ := strconv.Atoi(f[2])
	switch f[0] {
	case "hang": // begin a layer, write half of it, wait to be killed
		p, err := c.Begin(ctx, key(n))
		if err != nil {
			return 1
		}
		os.WriteFile(p.Path(), make([]byte, 1<<20), 0o600)
		fmt.Println("writing")
		time.Sleep(time.Hour)
	case "build": // store layers n..n+9, each checked, some keys shared with other helpers
		for i := n; i < n+10; i++ {
			k := key(i % 7)
			if l, err := c.Get(ctx, k); err == nil {
				l.Close()
				continue
			}
			p, err := c.Begin(ctx, k)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			if l, err := c.Get(ctx, k); err == nil { // stored while we waited
				l.Close()
				p.Abort()
				continue
			}
			os.WriteFile(p.Path(), bytes.Repeat([]byte{byte(i % 7)}, 300_000), 0o600)
			l, err := p.Commit(ctx, "helper", nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			l.Close()
		}
	}
	return 0
}

func helperCmd(t *testing.T, spec string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "MANTLET_LAYERCACHE_HELPER="+spec)
	return cmd
}

// TestBuildKilledWhileWriting kills a process that is writing a layer: the cache does not
// know the half-written file, removes it, and the key can be built again at once.
func TestBuildKilledWhileWriting(t *testing.T) {
	dir := t.TempDir()
	cmd := helperCmd(t, "hang,"+dir+",1")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "writing" {
		t.Fatalf("helper: %q, %v", buf, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	c, _ := Open(dir, 0)
	if _, err := get(t, c, key(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the kill: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*"+pendingInfix+"*")); len(m) != 0 {
		t.Errorf("the half-written file is still there: %v", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := c.Begin(ctx, key(1))
	if err != nil {
		t.Fatalf("the dead build's lock is still held: %v", err)
	}
	p.Abort()
}

// TestConcurrentBuilds has four processes fill one cache at once, with shared keys: every
// layer in the end verifies, and nothing is left half-written.
func TestConcurrentBuilds(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	outs := make([][]byte, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = helperCmd(t, fmt.Sprintf("build,%s,%d", dir, i*3)).CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("helper %d: %v: %s", i, errs[i], outs[i])
		}
	}
	c, _ := Open(dir, 0)
	keys := listKeys(t, c)
	if len(keys) != 7 {
		t.Fatalf("%d layers, want 7: %v", len(keys), keys)
	}
	for _, k := range keys {
		data, err := get(t, c, k)
		n, _ := strconv.ParseInt(k, 16, 64)
		if err != nil || !bytes.Equal(data, bytes.Repeat([]byte{byte(n)}, 300_000)) {
			t.Errorf("layer %s: %v", k, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*"+pendingInfix+"*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

func TestBeginWaitsForTheKey(t *testing.T) {
	c, _ := Open(t.TempDir(), 0)
	ctx := context.Background()
	p, err := c.Begin(ctx, key(1))
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := c.Begin(short, key(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second Begin of a held key: %v", err)
	}
	done := make(chan error)
	go func() {
		p2, err := c.Begin(ctx, key(1))
		if err == nil {
			p2.Abort()
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	p.Abort()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
