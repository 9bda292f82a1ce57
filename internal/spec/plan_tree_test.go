package spec

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const treeImage = `name: tree
release: bookworm
suites: [bookworm, bookworm-security]
mirror:
  debian: http://mirror.example/debian/
source_date_epoch: 1735689600
kernel:
  package: linux-image-amd64
  cmdline: [console=ttyS0]
packages: [systemd, zstd]
rootfs:
  type: squashfs
disk:
  esp_size: 64MiB
  root_size: 100MiB
`

// tree writes files (paths relative to a new directory) and returns the directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	return hostRoot(t, files)
}

func TestNewPlanMerge(t *testing.T) {
	dir := tree(t, map[string]string{
		"image.yaml": treeImage,
		"top.yaml": `name: top
include: [a.yaml, b.yaml]
packages: [nginx, zstd]
cmdline: [top=1]
files:
  - path: /etc/motd
    content: top
    owner: "0:0"
services:
  enable: [debug-shell.service]
`,
		"a.yaml": `name: a
include: [c.yaml]
packages: [curl]
cmdline: [a=1]
files:
  - path: /etc/motd
    content: a
  - path: /etc/issue
    source: files/issue
    mode: "0600"
services:
  enable: [ssh.service, fstrim.timer]
`,
		"b.yaml": `name: b
include: [c.yaml]
services:
  mask: [debug-shell.service, fstrim.timer]
  disable: [ssh.service]
`,
		"c.yaml":      "name: c\ncmdline: [c=1]\n",
		"files/issue": "Debian GNU/Linux\n",
	})
	p, warns, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, "top.yaml"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("profiles", p.Profiles, []string{"c", "a", "b", "top"})
	check("packages", p.Packages, []string{"curl", "linux-image-amd64", "nginx", "systemd", "zstd"})
	check("cmdline", p.Cmdline, []string{"console=ttyS0", "c=1", "a=1", "top=1"})
	check("enable", p.Enable, []string{"debug-shell.service"})
	check("disable", p.Disable, []string{"ssh.service"})
	check("mask", p.Mask, []string{"fstrim.timer"})
	check("formats", p.Formats, []string{"raw", "qcow2"})
	if len(p.Sources) != 2 {
		t.Fatalf("sources: %+v", p.Sources)
	}
	for _, s := range p.Sources {
		if s.URI != "http://mirror.example/debian" || !slices.Equal(s.Components, []string{"main"}) {
			t.Errorf("source %+v: want the image mirror (security defaults to it) and main", s)
		}
	}
	if p.Compression != "zstd" || p.Architecture != "amd64" {
		t.Errorf("defaults: compression %q, architecture %q", p.Compression, p.Architecture)
	}
	if p.VeritySize != 2*MiB || p.RootSize != 100*MiB || p.StateMinSize != 0 {
		t.Errorf("sizes: verity %d root %d state %d", p.VeritySize, p.RootSize, p.StateMinSize)
	}
	want := []PlanFile{
		{Path: "/etc/motd", Mode: 0o644, Owner: "0:0", Data: []byte("top")},
		{Path: "/etc/issue", Mode: 0o600, Owner: "root:root", Data: []byte("Debian GNU/Linux\n")},
	}
	if len(p.Files) != len(want) {
		t.Fatalf("files: %+v", p.Files)
	}
	for i, f := range p.Files {
		w := want[i]
		if f.Path != w.Path || f.Mode != w.Mode || f.Owner != w.Owner || string(f.Data) != string(w.Data) {
			t.Errorf("files[%d] = %+v, want %+v", i, f, w)
		}
	}
}

func TestNewPlanIncludeCycle(t *testing.T) {
	for name, tc := range map[string]struct {
		files     map[string]string
		start     string
		file, msg string
	}{
		"two": {
			files: map[string]string{"a.yaml": "name: a\ninclude: [b.yaml]\n", "b.yaml": "name: b\ninclude:\n  - a.yaml\n"},
			start: "a.yaml", file: "b.yaml:3", msg: "include[0]: include cycle: a.yaml -> b.yaml -> a.yaml",
		},
		"self": {
			files: map[string]string{"a.yaml": "name: a\ninclude: [./a.yaml]\n"},
			start: "a.yaml", file: "a.yaml:2", msg: "include cycle: a.yaml -> a.yaml",
		},
		"through a directory": {
			files: map[string]string{"top.yaml": "name: top\ninclude: [sub/x.yaml]\n", "sub/x.yaml": "name: x\ninclude: [../top.yaml]\n"},
			start: "top.yaml", file: "x.yaml:2", msg: "include cycle: top.yaml -> sub/x.yaml -> top.yaml",
		},
	} {
		t.Run(name, func(t *testing.T) {
			tc.files["image.yaml"] = treeImage
			dir := tree(t, tc.files)
			_, _, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, tc.start), "")
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.file+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("want %s: %s, got %v", tc.file, tc.msg, err)
			}
			t.Log(err)
		})
	}
}

func TestNewPlanAllFiles(t *testing.T) {
	dir := tree(t, map[string]string{
		"image.yaml": strings.Replace(treeImage, "name: tree", "name: Tree", 1),
		"top.yaml":   "name: top\ninclude: [base.yaml, missing.yaml]\nfiles:\n  - path: /var/lib/x\n    content: x\n",
		"base.yaml":  "name: base\npackages: [Bad]\nservices:\n  enable: [ssh]\n",
		"dup.yaml":   "name: base\n",
	})
	_, _, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, "top.yaml"), "")
	es, ok := asErrors(err)
	if !ok {
		t.Fatalf("want Errors, got %v", err)
	}
	for _, w := range []string{
		"image.yaml:1: name: ",
		"top.yaml:2: include[1]: \"missing.yaml\" does not exist",
		"top.yaml:4: files[0].path: \"/var/lib/x\" is under /var, the state partition",
		"base.yaml:2: packages[0]: ",
		"base.yaml:4: services.enable[0]: ",
	} {
		if !strings.Contains(es.Error(), w) {
			t.Errorf("want %q in:\n%v", w, es)
		}
	}
	if len(es) != 5 {
		t.Errorf("want 5 errors, got %d:\n%v", len(es), es)
	}
}

func TestNewPlanProfileNameTwice(t *testing.T) {
	dir := tree(t, map[string]string{
		"image.yaml": treeImage,
		"top.yaml":   "name: top\ninclude: [a.yaml, b.yaml]\n",
		"a.yaml":     "name: same\n",
		"b.yaml":     "name: same\n",
	})
	_, _, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, "top.yaml"), "")
	if err == nil || !strings.Contains(err.Error(), `b.yaml:1: name: "same" is also the name of`) {
		t.Fatalf("got %v", err)
	}
}

func TestNewPlanSources(t *testing.T) {
	noMirror := strings.Replace(treeImage, "mirror:\n  debian: http://mirror.example/debian/\n", "", 1)
	dir := tree(t, map[string]string{"image.yaml": noMirror})
	img := filepath.Join(dir, "image.yaml")

	onlyDebian := hostRoot(t, map[string]string{"etc/apt/sources.list": "deb http://mirror.example/debian bookworm main\n"})
	if _, _, err := NewPlan(img, "", onlyDebian); !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "set mirror.security") {
		t.Errorf("want a missing security source, got %v", err)
	}
	if _, _, err := NewPlan(img, "", t.TempDir()); !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "set mirror.debian") {
		t.Errorf("want no source, got %v", err)
	}
	p, _, err := NewPlan(img, "", "testdata/hostroot")
	if err != nil {
		t.Fatal(err)
	}
	if p.Sources[0].URI != "http://mirror.example/debian" || p.Sources[1].URI != "http://security.mirror.example/debian-security" {
		t.Errorf("sources %+v", p.Sources)
	}
	if len(p.Profiles) != 0 || len(p.Files) != 0 {
		t.Errorf("no profile: got %v, %v", p.Profiles, p.Files)
	}
}

func TestImageDigest(t *testing.T) {
	files := map[string]string{
		"image.yaml":  treeImage,
		"p.yaml":      "name: p\nfiles:\n  - path: /etc/issue\n    source: issue\n",
		"issue":       "one\n",
		"unused-file": "x",
	}
	digest := func(files map[string]string) string {
		dir := tree(t, files)
		p, _, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, "p.yaml"), "")
		if err != nil {
			t.Fatal(err)
		}
		return p.ImageDigest
	}
	first := digest(files)
	if len(first) != 64 {
		t.Fatalf("digest %q", first)
	}
	if again := digest(files); again != first {
		t.Errorf("the digest depends on the directory: %s != %s", again, first)
	}
	for name, change := range map[string][2]string{
		"image":   {"image.yaml", treeImage + "# comment\n"},
		"profile": {"p.yaml", files["p.yaml"] + "# comment\n"},
		"source":  {"issue", "two\n"},
	} {
		changed := maps.Clone(files)
		changed[change[0]] = change[1]
		if digest(changed) == first {
			t.Errorf("changing the %s leaves the digest as it was", name)
		}
	}
	changed := maps.Clone(files)
	changed["unused-file"] = "y"
	if digest(changed) != first {
		t.Errorf("a file no profile uses changes the digest")
	}
}

func TestNewPlanReadErrors(t *testing.T) {
	if _, _, err := NewPlan(filepath.Join(t.TempDir(), "none.yaml"), "", ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing image: %v", err)
	}
	dir := tree(t, map[string]string{"image.yaml": treeImage})
	if _, _, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, "none.yaml"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing profile: %v", err)
	}
}
