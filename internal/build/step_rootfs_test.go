package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMmdebstrapArgsGolden(t *testing.T) {
	args := mmdebstrapArgs(testPlan(), "", rootfsPaths{
		Stage: "/w/stage", Cache: "/cache/debs", BootOut: "/w/boot", Packages: "/w/packages.tsv", Tar: "/w/root.tar",
	})
	golden(t, "mmdebstrap.args.golden", []byte(strings.Join(args, "\n")+"\n"))
}

func TestMmdebstrapArgsOrder(t *testing.T) {
	args := mmdebstrapArgs(testPlan(), "unshare", rootfsPaths{Stage: "/s", Cache: "/c", BootOut: "/b/boot", Packages: "/p", Tar: "/t.tar"})
	if args[0] != "--mode=unshare" {
		t.Errorf("mode: %s", args[0])
	}
	idx := func(s string) int {
		for i, a := range args {
			if a == s {
				return i
			}
		}
		t.Fatalf("missing %q in %q", s, args)
		return -1
	}
	// Excludes before includes (dpkg applies them in order), suite and target before sources.
	if idx("--dpkgopt=path-exclude=/usr/share/doc/*") > idx("--dpkgopt=path-include=/usr/share/doc/*/copyright") {
		t.Error("path-include must follow path-exclude")
	}
	if idx("bookworm") != idx("/t.tar")-1 || args[len(args)-1] != "deb http://mirror.example/debian-security bookworm-security main" {
		t.Errorf("positional arguments wrong: %q", args[len(args)-4:])
	}
	// The files and the customize script go in after the package list is taken.
	if idx("--customize-hook=sync-in '/s/files' /") > idx(`--customize-hook=chroot "$1" /bin/sh `+customizePath) {
		t.Error("customize script must run after the files are copied in")
	}
}

func TestParsePackages(t *testing.T) {
	pkgs, err := parsePackages([]byte("sudo\t1.9.13p3-1+deb12u1\tamd64\nbase-files\t12.4+deb12u8\tamd64\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[0].Name != "base-files" || pkgs[1].Version != "1.9.13p3-1+deb12u1" {
		t.Fatalf("got %+v", pkgs)
	}
	for _, bad := range []string{"", "sudo 1.0 amd64\n", "sudo\t\tamd64\n"} {
		if _, err := parsePackages([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestKernelVersion(t *testing.T) {
	dir := t.TempDir()
	if _, err := kernelVersion(dir); err == nil {
		t.Fatal("empty /boot: no error")
	}
	os.WriteFile(filepath.Join(dir, "vmlinuz-6.1.0-28-amd64"), nil, 0o644)
	v, err := kernelVersion(dir)
	if err != nil || v != "6.1.0-28-amd64" {
		t.Fatalf("got %q, %v", v, err)
	}
	os.WriteFile(filepath.Join(dir, "vmlinuz-6.1.0-29-amd64"), nil, 0o644)
	if _, err := kernelVersion(dir); err == nil || !strings.Contains(err.Error(), "2 kernels") {
		t.Fatalf("two kernels: %v", err)
	}
}
