//go:build qemu

// Package qemu_test builds the default image and boots it in QEMU: the tests that prove an
// image works. They run with `make test-qemu` (build tag qemu), need root (mmdebstrap) and the
// tools of `make deps`, and take minutes under TCG.
package qemu_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/build"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/pipeline"
	"github.com/mantlet/mantlet/internal/spec"
)

const (
	imageDef = "../../images/node.yaml"
	profile  = "../../profiles/base.yaml"
)

var (
	workDir   string // removed after all tests
	firstboot string // static mantlet-firstboot built for the tests

	defaultOnce  sync.Once
	defaultImage *built
	defaultErr   error
)

// built is one finished build: its state and output directory.
type built struct {
	out   string
	state *build.State
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mantlet-qemu-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireBuildHost skips with the reason when this machine cannot build images.
func requireBuildHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("building an image needs root (mmdebstrap); run make test-qemu as root")
	}
	if err := command.Require("mmdebstrap", "tar2sqfs", "veritysetup", "objcopy", "qemu-img", "qemu-system-x86_64"); err != nil {
		t.Skipf("image tools missing: %v", err)
	}
}

// buildImage builds the default image definition and base profile into a new directory.
func buildImage(t *testing.T, name string) (*built, error) {
	t.Helper()
	return buildImageFrom(t, name, imageDef, profile)
}

// buildImageFrom builds the image definition at image with profile prof into a new directory.
func buildImageFrom(t *testing.T, name, image, prof string) (*built, error) {
	t.Helper()
	if firstboot == "" {
		bin := filepath.Join(workDir, "mantlet-firstboot")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/mantlet-firstboot")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build mantlet-firstboot: %v: %s", err, out)
		}
		firstboot = bin
	}
	plan, _, err := spec.NewPlan(image, prof, "/")
	if err != nil {
		return nil, err
	}
	if err := plan.SetFormats("raw,qcow2"); err != nil {
		return nil, err
	}
	out := filepath.Join(workDir, name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	st, err := build.Build(ctx, plan, build.Options{OutDir: out, FirstbootBinary: firstboot, Runner: command.Exec{}},
		func(e pipeline.Event) {
			if e.Status != "started" {
				t.Logf("build %s: step %s %s in %s", name, e.Step, e.Status, e.Elapsed.Round(time.Millisecond))
			}
		})
	if err != nil {
		return nil, err
	}
	return &built{out: out, state: st}, nil
}

// defaultBuild is the default image, built once for all tests that boot it.
func defaultBuild(t *testing.T) *built {
	t.Helper()
	requireBuildHost(t)
	defaultOnce.Do(func() { defaultImage, defaultErr = buildImage(t, "a") })
	if defaultErr != nil {
		t.Fatalf("build the default image: %v", defaultErr)
	}
	return defaultImage
}

func (b *built) output(t *testing.T, format string) string {
	t.Helper()
	for _, o := range b.state.Outputs {
		if o.Format == format {
			return o.File
		}
	}
	t.Fatalf("no %s output", format)
	return ""
}
