package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/command"
)

// fakeMmdebstrap is a Runner whose mmdebstrap writes a layer (a real little tarball) and the
// package list where the arguments say, and counts how often it ran.
type fakeMmdebstrap struct {
	t     *testing.T
	mu    sync.Mutex
	runs  int
	pkgs  string
	delay time.Duration
	fail  error
}

func (f *fakeMmdebstrap) Run(_ context.Context, c command.Cmd) ([]byte, error) {
	if c.Name == "mmtarfilter" {
		// The layer's filter: the test layer has no xattrs to drop (the real one's work is
		// TestRootImageDropsOnlyWhatSquashfsCannotKeep's).
		_, err := io.Copy(c.Stdout, c.Stdin)
		return nil, err
	}
	if c.Name != "mmdebstrap" {
		return nil, fmt.Errorf("unexpected command %s", c.Name)
	}
	f.mu.Lock()
	f.runs++
	f.mu.Unlock()
	time.Sleep(f.delay)
	if f.fail != nil {
		return nil, f.fail
	}
	var tarPath, pkgPath string
	for i, a := range c.Args {
		if a == "bookworm" {
			tarPath = c.Args[i+1]
		}
		if strings.Contains(a, "dpkg-query") {
			pkgPath = strings.Trim(a[strings.LastIndex(a, "> ")+2:], "'")
		}
	}
	layer, err := os.ReadFile(writeLayer(f.t, testLayer()))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(tarPath, layer, 0o644); err != nil {
		return nil, err
	}
	return nil, os.WriteFile(pkgPath, []byte(f.pkgs), 0o644)
}

func (f *fakeMmdebstrap) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs
}

var fakePackages = []Package{{Name: "base-files", Version: "12.4+deb12u8", Arch: "amd64"}, {Name: "sudo", Version: "1.9.13p3-1+deb12u1", Arch: "amd64"}}

func fakeTSV(pkgs []Package) string {
	var b strings.Builder
	for _, p := range pkgs {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", p.Name, p.Version, p.Arch)
	}
	return b.String()
}

// rootfsState is what the steps before rootfs leave for it.
func rootfsState(t *testing.T, cacheDir string, r command.Runner) *State {
	t.Helper()
	work := t.TempDir()
	return &State{Plan: testPlan(), Opts: Options{CacheDir: cacheDir, Runner: r}, WorkDir: work, StageDir: filepath.Join(work, "stage"),
		listsDir: filepath.Join(work, "lists"), Resolved: fakePackages, LayerKey: strings.Repeat("ab", 32)}
}

func runRootFS(t *testing.T, st *State) error {
	t.Helper()
	s := &stepRootFS{}
	err := s.Run(context.Background(), st)
	t.Cleanup(func() { s.Cleanup(st) })
	return err
}

func cachedLayers(t *testing.T, cacheDir string) int {
	t.Helper()
	c, err := OpenLayerCache(cacheDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func TestRootFSStoresAndReusesTheLayer(t *testing.T) {
	cache := t.TempDir()
	mm := &fakeMmdebstrap{t: t, pkgs: fakeTSV(fakePackages)}
	st := rootfsState(t, cache, mm)
	if err := runRootFS(t, st); err != nil {
		t.Fatal(err)
	}
	if mm.count() != 1 || st.LayerCached || cachedLayers(t, cache) != 1 {
		t.Fatalf("first build: %d runs, cached %v, %d layers", mm.count(), st.LayerCached, cachedLayers(t, cache))
	}
	st2 := rootfsState(t, cache, mm)
	if err := runRootFS(t, st2); err != nil {
		t.Fatal(err)
	}
	if mm.count() != 1 || !st2.LayerCached || len(st2.Packages) != 2 || st2.Packages[1].Name != "sudo" {
		t.Fatalf("second build: %d runs, cached %v, packages %v", mm.count(), st2.LayerCached, st2.Packages)
	}
	a, _ := os.ReadFile(st.LayerFile)
	b, _ := os.ReadFile(st2.LayerFile)
	if !bytes.Equal(a, b) {
		t.Fatal("the cached layer is not the one stored")
	}
	if o := (&stepRootFS{}).Outcome(st2); !o.Cached || o.Key != st2.LayerKey {
		t.Fatalf("outcome: %+v", o)
	}
}

// TestRootFSRebuildsACorruptLayer flips a byte of the stored layer: the next build notices,
// builds the layer again, and never hands out the corrupt one.
func TestRootFSRebuildsACorruptLayer(t *testing.T) {
	cache := t.TempDir()
	mm := &fakeMmdebstrap{t: t, pkgs: fakeTSV(fakePackages)}
	st := rootfsState(t, cache, mm)
	if err := runRootFS(t, st); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(st.LayerFile)
	bad := bytes.Clone(good)
	bad[len(bad)/3] ^= 0x20
	os.WriteFile(st.LayerFile, bad, 0o600)

	st2 := rootfsState(t, cache, mm)
	if err := runRootFS(t, st2); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(st2.LayerFile)
	if mm.count() != 2 || st2.LayerCached || !bytes.Equal(got, good) {
		t.Fatalf("after the flip: %d runs, cached %v, layer intact %v", mm.count(), st2.LayerCached, bytes.Equal(got, good))
	}
	st3 := rootfsState(t, cache, mm)
	if err := runRootFS(t, st3); err != nil || !st3.LayerCached {
		t.Fatalf("the rebuilt layer is not used: %v", err)
	}
}

func TestRootFSNoCache(t *testing.T) {
	cache := t.TempDir()
	mm := &fakeMmdebstrap{t: t, pkgs: fakeTSV(fakePackages)}
	for i := range 2 {
		st := rootfsState(t, cache, mm)
		st.Opts.NoCache = true
		if err := runRootFS(t, st); err != nil {
			t.Fatal(err)
		}
		if st.LayerCached || mm.count() != i+1 {
			t.Fatalf("--no-cache build %d: cached %v, %d runs", i, st.LayerCached, mm.count())
		}
	}
	if cachedLayers(t, cache) != 1 {
		t.Fatal("a --no-cache build stores its layer for the next build")
	}
}

// A layer whose installed packages are not those resolved before the install does not get the
// key: it is used by its build and not stored.
func TestRootFSDoesNotStoreAnUnexpectedLayer(t *testing.T) {
	cache := t.TempDir()
	other := append([]Package{{Name: "apt", Version: "2.6.1", Arch: "amd64"}}, fakePackages...)
	mm := &fakeMmdebstrap{t: t, pkgs: fakeTSV(other)}
	st := rootfsState(t, cache, mm)
	if err := runRootFS(t, st); err != nil {
		t.Fatal(err)
	}
	if cachedLayers(t, cache) != 0 || !strings.HasPrefix(st.LayerFile, st.WorkDir) {
		t.Fatalf("stored: %d layers, file %s", cachedLayers(t, cache), st.LayerFile)
	}
	if _, err := os.Stat(st.LayerFile); err != nil {
		t.Fatal(err)
	}
	if d := packageDiff(fakePackages, other); d != "+apt 2.6.1" {
		t.Errorf("diff: %q", d)
	}
}

func TestRootFSFailureLeavesNothing(t *testing.T) {
	cache := t.TempDir()
	mm := &fakeMmdebstrap{t: t, fail: errors.New("E: Unable to locate package nonesuch")}
	if err := runRootFS(t, rootfsState(t, cache, mm)); err == nil {
		t.Fatal("no error")
	}
	ents, _ := os.ReadDir(layerDir(cache))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tar") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// Two builds of the same layer at once on one cache: one installs, the other waits for it and
// takes its layer.
func TestRootFSTwoBuildsAtOnce(t *testing.T) {
	cache := t.TempDir()
	mm := &fakeMmdebstrap{t: t, pkgs: fakeTSV(fakePackages), delay: 300 * time.Millisecond}
	states := []*State{rootfsState(t, cache, mm), rootfsState(t, cache, mm)}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &stepRootFS{}
			errs[i] = s.Run(context.Background(), states[i])
			t.Cleanup(func() { s.Cleanup(states[i]) })
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if mm.count() != 1 || states[0].LayerCached == states[1].LayerCached {
		t.Fatalf("%d installs; cached: %v, %v", mm.count(), states[0].LayerCached, states[1].LayerCached)
	}
}
