package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/spec"
)

// kernelDebPlan is testPlan with a custom kernel package file at file.
func kernelDebPlan(file, sum string) *spec.Plan {
	p := testPlan()
	p.KernelPackage = "linux-image-6.1.0-28-cloud-amd64"
	p.KernelDeb = &spec.PlanKernelDeb{Path: "kernels/k.deb", File: file, SHA256: sum,
		Package: "linux-image-6.1.0-28-cloud-amd64", Version: "6.1.119-1", Architecture: "amd64", Release: "6.1.0-28-cloud-amd64"}
	p.Packages = []string{"openssh-server", "systemd"}
	return p
}

func TestStepKernelCopiesTheCheckedFile(t *testing.T) {
	src := filepath.Join(t.TempDir(), "k.deb")
	if err := os.WriteFile(src, []byte("a kernel package\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, _ := spec.FileSHA256(src)
	st := &State{Plan: kernelDebPlan(src, sum)}
	s := &stepKernel{}
	if err := s.Run(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(filepath.Dir(st.KernelDeb)) != kernelDebParent || filepath.Base(st.KernelDeb) != "linux-image-6.1.0-28-cloud-amd64_6.1.119-1_amd64.deb" {
		t.Errorf("copy at %s", st.KernelDeb)
	}
	if data, _ := os.ReadFile(st.KernelDeb); string(data) != "a kernel package\n" {
		t.Errorf("copy holds %q", data)
	}
	// Readable by mmdebstrap's unshared user: the directory 0755, the file 0644.
	for path, want := range map[string]os.FileMode{filepath.Dir(st.KernelDeb): 0o755, st.KernelDeb: 0o644} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	s.Cleanup(st)
	if exists(filepath.Dir(st.KernelDeb)) {
		t.Error("cleanup left the copy")
	}
}

func TestStepKernelRefusesAChangedFile(t *testing.T) {
	src := filepath.Join(t.TempDir(), "k.deb")
	if err := os.WriteFile(src, []byte("changed after validation\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checked := strings.Repeat("ab", 32)
	st := &State{Plan: kernelDebPlan(src, checked)}
	s := &stepKernel{}
	err := s.Run(context.Background(), st)
	got, _ := spec.FileSHA256(src)
	if err == nil || !strings.Contains(err.Error(), "kernel.deb kernels/k.deb changed since it was checked: sha256 expected "+checked+", got "+got) {
		t.Fatalf("want the changed file refused, got %v", err)
	}
	if st.KernelDeb != "" {
		t.Error("a refused copy is handed on")
	}
	s.Cleanup(st)
	if st.kernelDebDir == "" || exists(st.kernelDebDir) {
		t.Errorf("cleanup left %q", st.kernelDebDir)
	}
}

func TestStepKernelSuitesKernel(t *testing.T) {
	st := &State{Plan: testPlan()}
	s := &stepKernel{}
	if err := s.Run(context.Background(), st); err != nil || st.KernelDeb != "" || st.kernelDebDir != "" {
		t.Fatalf("a kernel from the suites: %v, %q", err, st.KernelDeb)
	}
	s.Cleanup(st)
}

func TestDebFileName(t *testing.T) {
	d := &spec.PlanKernelDeb{Package: "linux-image-6.1.0-1-custom", Version: "1:6.1.1-1", Architecture: "amd64"}
	if got := debFileName(d); got != "linux-image-6.1.0-1-custom_1%3a6.1.1-1_amd64.deb" {
		t.Errorf("got %s", got)
	}
}
