//go:build qemu

package qemu_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/build"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/pipeline"
	"github.com/mantlet/mantlet/internal/spec"
)

// TestCachedBuildIsIdentical builds the default image cold (a package layer installed afresh,
// --no-cache), then with one of its profile's files changed (the layer from the cache), then
// with the file changed back (the cache again): every output of the last build is byte for
// byte the cold build's, and the changed build's differ. No VM boots: about one build from
// scratch and two of the configuration (2-4 minutes here, less on an idle runner).
func TestCachedBuildIsIdentical(t *testing.T) {
	requireBuildHost(t)
	profiles := filepath.Join(t.TempDir(), "profiles")
	if out, err := exec.Command("cp", "-r", "../../profiles", profiles).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	prof := filepath.Join(profiles, "cache-test.yaml")
	setFile := func(content string) {
		t.Helper()
		data := fmt.Sprintf("name: cache-test\ndescription: base and one file the test changes\ninclude: [base.yaml]\n"+
			"files:\n  - path: /etc/mantlet-cache-test\n    mode: \"0644\"\n    content: %q\n", content)
		if err := os.WriteFile(prof, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	setFile("one\n")
	cold, coldLayer := cacheTestBuild(t, "cache-cold", prof, true)
	if coldLayer.Cached {
		t.Fatal("the cold build took its package layer from the cache")
	}
	setFile("two\n")
	changed, changedLayer := cacheTestBuild(t, "cache-changed", prof, false)
	setFile("one\n")
	back, backLayer := cacheTestBuild(t, "cache-back", prof, false)
	if !changedLayer.Cached || !backLayer.Cached {
		t.Fatalf("a change of a profile's file rebuilt the package layer: cached %v, %v", changedLayer.Cached, backLayer.Cached)
	}
	if changedLayer.Key != coldLayer.Key || backLayer.Key != coldLayer.Key {
		t.Fatalf("layer keys: cold %s, changed %s, back %s", coldLayer.Key, changedLayer.Key, backLayer.Key)
	}
	if changed.state.Verity.RootHash == cold.state.Verity.RootHash {
		t.Fatal("the changed profile gave the same root: the change did not reach the image")
	}

	names := func(dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			if e.Type().IsRegular() {
				out = append(out, e.Name())
			}
		}
		return out
	}
	coldFiles, backFiles := names(cold.out), names(back.out)
	if !slices.Equal(coldFiles, backFiles) {
		t.Fatalf("outputs: cold %v, cached %v", coldFiles, backFiles)
	}
	for _, want := range []string{"node.raw", "node.raw.bmap", "node.qcow2", "node.efi", "node.manifest.json"} {
		if !slices.Contains(coldFiles, want) {
			t.Errorf("no %s among the outputs %v", want, coldFiles)
		}
	}
	for _, f := range coldFiles {
		same, err := sameRange(filepath.Join(cold.out, f), filepath.Join(back.out, f), 0, 1<<40)
		if err != nil {
			t.Fatal(err)
		}
		if !same {
			t.Errorf("%s of the cached build differs from the cold build's", f)
		}
	}
	t.Logf("BYTE-IDENTITY: %d outputs of the cached build identical to the cold build's (layer %s, root hash %s)",
		len(coldFiles), coldLayer.Key[:12], cold.state.Verity.RootHash)
}

// cacheTestBuild builds the default image definition with prof into a new directory and
// returns the rootfs step's event.
func cacheTestBuild(t *testing.T, name, prof string, noCache bool) (*built, pipeline.Event) {
	t.Helper()
	if firstboot == "" {
		bin := filepath.Join(workDir, "mantlet-firstboot")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/mantlet-firstboot")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build mantlet-firstboot: %v: %s", err, out)
		}
		firstboot = bin
	}
	plan, _, err := spec.NewPlan(imageDef, prof, "/")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(workDir, name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var rootfs pipeline.Event
	st, err := build.Build(ctx, plan, build.Options{OutDir: out, FirstbootBinary: firstboot, NoCache: noCache, Runner: command.Exec{}},
		func(e pipeline.Event) {
			if e.Status == "started" {
				return
			}
			t.Logf("build %s: step %s %s in %s (cached %v %s)", name, e.Step, e.Status, e.Elapsed.Round(time.Millisecond), e.Cached, e.Note)
			if e.Step == "rootfs" {
				rootfs = e
			}
		})
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	if rootfs.Status != "finished" {
		t.Fatalf("build %s: no rootfs step", name)
	}
	return &built{out: out, state: st}, rootfs
}
