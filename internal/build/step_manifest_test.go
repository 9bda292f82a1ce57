package build

import (
	"os"
	"path/filepath"
	"testing"
)

func TestManifestKernel(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"root.img", "uki.efi"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pkgs := []Package{
		{Name: "linux-image-6.1.0-28-amd64", Version: "6.1.119-1", Arch: "amd64"},
		{Name: "linux-image-6.1.0-28-cloud-amd64", Version: "6.1.119-2", Arch: "amd64"},
		{Name: "linux-image-amd64", Version: "6.1.119-1", Arch: "amd64"},
	}
	sum := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name    string
		st      *State
		want    KernelInfo
		wantDeb *KernelDebInfo
	}{
		{"suites", &State{Plan: testPlan(), KernelVersion: "6.1.0-28-amd64"},
			KernelInfo{Package: "linux-image-amd64", Version: "6.1.0-28-amd64", PackageVersion: "6.1.119-1"}, nil},
		{"deb", &State{Plan: kernelDebPlan("/src/k.deb", sum), KernelVersion: "6.1.0-28-cloud-amd64"},
			KernelInfo{Package: "linux-image-6.1.0-28-cloud-amd64", Version: "6.1.0-28-cloud-amd64", PackageVersion: "6.1.119-2"},
			&KernelDebInfo{Path: "kernels/k.deb", SHA256: sum}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.st.Packages, tc.st.RootImage, tc.st.UKI = pkgs, filepath.Join(dir, "root.img"), filepath.Join(dir, "uki.efi")
			m, err := manifest(tc.st)
			if err != nil {
				t.Fatal(err)
			}
			got := m.Kernel
			if (got.Deb == nil) != (tc.wantDeb == nil) || got.Deb != nil && *got.Deb != *tc.wantDeb {
				t.Errorf("deb = %+v, want %+v", got.Deb, tc.wantDeb)
			}
			got.Deb = nil
			if got != tc.want {
				t.Errorf("kernel = %+v, want %+v", got, tc.want)
			}
		})
	}
}
