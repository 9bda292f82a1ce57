package build

import (
	"slices"
	"strings"
	"testing"
)

func TestMmdebstrapArgsGolden(t *testing.T) {
	args := mmdebstrapArgs(testPlan(), "", rootfsPaths{
		Stage: "/w/stage", Cache: "/cache/debs", Lists: "/w/lists", Packages: "/w/packages.tsv", Tar: "/cache/layers/k.tar",
	})
	golden(t, "mmdebstrap.args.golden", []byte(strings.Join(args, "\n")+"\n"))
}

func TestMmdebstrapArgsOrder(t *testing.T) {
	args := mmdebstrapArgs(testPlan(), "unshare", rootfsPaths{Stage: "/s", Cache: "/c", Lists: "/l", Packages: "/p", Tar: "/t.tar"})
	if args[0] != "--mode=unshare" {
		t.Errorf("mode: %s", args[0])
	}
	idx := argIndex(t, args)
	// Excludes before includes (dpkg applies them in order), suite and target before sources.
	if idx("--dpkgopt=path-exclude=/usr/share/doc/*") > idx("--dpkgopt=path-include=/usr/share/doc/*/copyright") {
		t.Error("path-include must follow path-exclude")
	}
	if idx("bookworm") != idx("/t.tar")-1 || args[len(args)-1] != "deb http://mirror.example/debian-security bookworm-security main" {
		t.Errorf("positional arguments wrong: %q", args[len(args)-4:])
	}
	// Installed from the lists the versions were resolved against, not from a fresh update.
	idx("--skip=update")
	if idx("--setup-hook=sync-in '/l' /var/lib/apt/lists/") < idx(`--setup-hook=mkdir -p "$1"/var/lib/apt/lists/`) {
		t.Error("lists copied in before their directory is made")
	}
	// Nothing of the configuration is in the layer: no profile files, no chroot script.
	for _, a := range args {
		if strings.Contains(a, "files") || strings.Contains(a, "customize.sh") {
			t.Errorf("the package layer gets configuration: %s", a)
		}
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

func TestMmdebstrapArgsKernelDeb(t *testing.T) {
	deb := "/tmp/mantlet-kernel-1/linux-image-6.1.0-28-cloud-amd64_6.1.119-1_amd64.deb"
	args := mmdebstrapArgs(kernelDebPlan("/src/k.deb", strings.Repeat("0", 64)), "", rootfsPaths{
		Stage: "/w/stage", Cache: "/cache/debs", Lists: "/w/lists", Packages: "/w/packages.tsv", Tar: "/cache/layers/k.tar", KernelDeb: deb,
	})
	golden(t, "mmdebstrap-kernel-deb.args.golden", []byte(strings.Join(args, "\n")+"\n"))
	idx := argIndex(t, args)
	// The file is its own --include; no archive kernel is asked for.
	idx("--include=" + deb)
	if i := idx("--include=openssh-server,systemd"); strings.Contains(args[i], "linux-image") {
		t.Errorf("an archive kernel is included: %s", args[i])
	}
	// In the chroot at the same path before apt runs; checked and gone before the cache is
	// copied out and the package list is taken.
	if idx("--setup-hook=copy-in '"+deb+"' '/tmp/mantlet-kernel-1'") < idx(`--setup-hook=mkdir -p "$1"'/tmp/mantlet-kernel-1'`) {
		t.Error("copy-in before its directory is made")
	}
	if idx("--setup-hook=copy-in '"+deb+"' /var/cache/apt/archives/") < idx("--setup-hook=sync-in '/cache/debs' /var/cache/apt/archives/") {
		t.Error("the cache's files must not replace the copy in the archive cache")
	}
	rm := idx(`--customize-hook=rm -rf "$1"'/tmp/mantlet-kernel-1' "$1"/var/cache/apt/archives/'linux-image-6.1.0-28-cloud-amd64_6.1.119-1_amd64.deb'`)
	check := -1
	for i, a := range args {
		if strings.HasPrefix(a, "--customize-hook=[ ") && strings.Contains(a, "md5sums") {
			check = i
		}
	}
	if check < 0 || check > rm || rm > idx("--customize-hook=sync-out /var/cache/apt/archives '/cache/debs'") {
		t.Errorf("md5sums check at %d, removal at %d: both before the cache is copied out", check, rm)
	}
}

func TestCheckKernelDeb(t *testing.T) {
	d := kernelDebPlan("/src/k.deb", "").KernelDeb
	base := []Package{{Name: "kmod", Version: "30+20221128-1"}, {Name: d.Package, Version: d.Version}, {Name: "linux-image-6.1.0-28-cloud-amd64-dbg", Version: d.Version}}
	for _, tc := range []struct {
		name    string
		pkgs    []Package
		release string
		want    string
	}{
		{"ok", base, d.Release, ""},
		{"missing", base[:1], d.Release, "package linux-image-6.1.0-28-cloud-amd64 is not installed"},
		{"other version", []Package{{Name: d.Package, Version: "6.1.120-1"}}, d.Release, "6.1.120-1 is installed, not the file's version 6.1.119-1"},
		{"second kernel", append(slices.Clone(base), Package{Name: "linux-image-amd64", Version: "6.1.119-1"}), d.Release, "other kernel packages were installed too (linux-image-amd64 6.1.119-1)"},
		{"other release", base, "6.1.0-28-amd64", "/boot has kernel 6.1.0-28-amd64, the package ships 6.1.0-28-cloud-amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkKernelDeb(d, tc.pkgs, tc.release)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// argIndex returns a function that finds an argument's position in args, failing the test when
// it is not there.
func argIndex(t *testing.T, args []string) func(string) int {
	return func(s string) int {
		t.Helper()
		for i, a := range args {
			if a == s {
				return i
			}
		}
		t.Fatalf("missing %q in %q", s, args)
		return -1
	}
}
