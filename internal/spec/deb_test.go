package spec

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// makeDeb builds a small .deb with dpkg-deb in dir: control fields besides Maintainer and
// Description, and empty files at the given paths. It returns the file's path and sha256.
func makeDeb(t *testing.T, dir, name string, control map[string]string, files ...string) (path, sum string) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not found (install dpkg): reading kernel.deb needs it")
	}
	root := filepath.Join(t.TempDir(), "root")
	var b strings.Builder
	for _, k := range []string{"Package", "Version", "Architecture"} {
		if v, ok := control[k]; ok {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	b.WriteString("Maintainer: mantlet tests <tests@mantlet.invalid>\nDescription: a test package\n")
	for _, f := range append([]string{"DEBIAN/control"}, files...) {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := ""
		if f == "DEBIAN/control" {
			data = b.String()
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path = filepath.Join(dir, name)
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, path).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v: %s", err, out)
	}
	sum, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, sum
}

// kernelDebFixture is a directory with a valid kernel package and a few bad files.
type kernelDebFixture struct {
	dir  string
	sums map[string]string // file name -> sha256
}

func newKernelDebFixture(t *testing.T) *kernelDebFixture {
	t.Helper()
	f := &kernelDebFixture{dir: t.TempDir(), sums: map[string]string{}}
	kernel := map[string]string{"Package": "linux-image-6.1.0-99-test-amd64", "Version": "6.1.999-1", "Architecture": "amd64"}
	_, f.sums["k.deb"] = makeDeb(t, f.dir, "k.deb", kernel, "boot/vmlinuz-6.1.0-99-test-amd64", "boot/config-6.1.0-99-test-amd64")
	_, f.sums["hello.deb"] = makeDeb(t, f.dir, "hello.deb", map[string]string{"Package": "hello", "Version": "1.0", "Architecture": "amd64"}, "usr/bin/hello")
	arm := map[string]string{"Package": "linux-image-6.1.0-99-arm64", "Version": "6.1.999-1", "Architecture": "arm64"}
	_, f.sums["arm.deb"] = makeDeb(t, f.dir, "arm.deb", arm, "boot/vmlinuz-6.1.0-99-arm64")
	_, f.sums["meta.deb"] = makeDeb(t, f.dir, "meta.deb", map[string]string{"Package": "linux-image-amd64", "Version": "6.1.999-1", "Architecture": "amd64"})
	two := map[string]string{"Package": "linux-image-two", "Version": "1", "Architecture": "amd64"}
	_, f.sums["two.deb"] = makeDeb(t, f.dir, "two.deb", two, "boot/vmlinuz-6.1.0-1-amd64", "boot/vmlinuz-6.1.0-2-amd64")
	if err := os.WriteFile(filepath.Join(f.dir, "notes.deb"), []byte("not an archive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.sums["notes.deb"], _ = FileSHA256(filepath.Join(f.dir, "notes.deb"))
	return f
}

// kernel is a kernel section naming file with sha256 sum.
func debKernel(file, sum string) string {
	return "kernel:\n  deb:\n    path: " + file + "\n    sha256: " + sum + "\n  initrd_modules: [virtio_blk]\n"
}

func TestValidateKernelDeb(t *testing.T) {
	f := newKernelDebFixture(t)
	wrong := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name, key, snippet string
		path               string
		line               int // relative to the snippet
		msg                string
	}{
		{"both", "kernel", "kernel:\n  package: linux-image-amd64\n  deb:\n    path: k.deb\n    sha256: " + f.sums["k.deb"] + "\n", "kernel", 1, "both package and deb are set: give exactly one"},
		{"neither", "kernel", "kernel:\n  cmdline: [quiet]\n", "kernel.package", 1, "required, such as linux-image-amd64 (or kernel.deb"},
		{"path missing", "kernel", "kernel:\n  deb:\n    sha256: " + wrong + "\n", "kernel.deb.path", 2, "required: a linux-image-*.deb file"},
		{"no such file", "kernel", debKernel("kernels/gone.deb", wrong), "kernel.deb.path", 3, `"kernels/gone.deb" does not exist (looked for ` + f.dir},
		{"absolute", "kernel", debKernel("/boot/k.deb", wrong), "kernel.deb.path", 3, "is absolute: paths are relative to the image definition"},
		{"outside", "kernel", debKernel("../k.deb", wrong), "kernel.deb.path", 3, "leaves the image definition's directory"},
		{"sha256 missing", "kernel", "kernel:\n  deb:\n    path: k.deb\n", "kernel.deb.sha256", 2, "required: the file's sha256 (\"k.deb\" is now " + f.sums["k.deb"]},
		{"sha256 malformed", "kernel", debKernel("k.deb", strings.ToUpper(f.sums["k.deb"])), "kernel.deb.sha256", 4, "not a sha256: 64 lower-case hex digits"},
		{"sha256 wrong", "kernel", debKernel("k.deb", wrong), "kernel.deb.sha256", 4, "expected " + wrong + ", got " + f.sums["k.deb"]},
		{"not a deb", "kernel", debKernel("notes.deb", f.sums["notes.deb"]), "kernel.deb.path", 3, `"notes.deb": not a Debian package`},
		{"not a kernel", "kernel", debKernel("hello.deb", f.sums["hello.deb"]), "kernel.deb.path", 3, "is package hello, not a kernel image package (linux-image-*)"},
		{"architecture", "kernel", debKernel("arm.deb", f.sums["arm.deb"]), "kernel.deb.path", 3, "is for architecture arm64, not the image's amd64"},
		{"meta package", "kernel", debKernel("meta.deb", f.sums["meta.deb"]), "kernel.deb.path", 3, "ships no kernel (/boot/vmlinuz-*): a meta package"},
		{"two kernels", "kernel", debKernel("two.deb", f.sums["two.deb"]), "kernel.deb.path", 3, "ships 2 kernels"},
		{"second kernel in packages", "packages", "packages: [systemd, linux-image-cloud-amd64]\n", "packages[1]", 1, `"linux-image-cloud-amd64" is a kernel package: an image has exactly one kernel`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, start := imageWith(tc.key, tc.snippet)
			_, _, warns, errs := checkImage(filepath.Join(f.dir, "t.yaml"), []byte(doc))
			if !findProblem(errs, tc.path, start+tc.line-1, tc.msg) {
				t.Errorf("want %s at line %d: %q\nerrors:\n%v\nwarnings:\n%v\ndocument:\n%s", tc.path, start+tc.line-1, tc.msg, errs, warns, doc)
			}
		})
	}
}

func TestKernelDebPlan(t *testing.T) {
	f := newKernelDebFixture(t)
	doc, _ := imageWith("kernel", debKernel("k.deb", f.sums["k.deb"]))
	doc = strings.Replace(doc, "packages: [systemd]", "packages: [systemd, linux-image-6.1.0-99-test-amd64-dbg]", 1)
	img := filepath.Join(f.dir, "t.yaml")
	if err := os.WriteFile(img, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	p, warns, err := NewPlan(img, "", "testdata/hostroot")
	if err != nil || len(warns) > 0 {
		t.Fatalf("warnings %v, error %v", warns, err)
	}
	want := PlanKernelDeb{Path: "k.deb", File: filepath.Join(f.dir, "k.deb"), SHA256: f.sums["k.deb"],
		Package: "linux-image-6.1.0-99-test-amd64", Version: "6.1.999-1", Architecture: "amd64", Release: "6.1.0-99-test-amd64"}
	if p.KernelDeb == nil || *p.KernelDeb != want {
		t.Errorf("KernelDeb = %+v, want %+v", p.KernelDeb, want)
	}
	if p.KernelPackage != want.Package {
		t.Errorf("KernelPackage = %q, want the deb's %q", p.KernelPackage, want.Package)
	}
	// The file is installed as itself: no package name of it, nor any other kernel, goes to apt.
	if !slices.Equal(p.Packages, []string{"linux-image-6.1.0-99-test-amd64-dbg", "systemd"}) {
		t.Errorf("Packages = %q", p.Packages)
	}

	// The kernel file is an input of the digest: another file (and sum) gives another digest.
	doc2 := strings.Replace(doc, "k.deb\n    sha256: "+f.sums["k.deb"], "two.deb\n    sha256: "+f.sums["two.deb"], 1)
	digest := func(doc string) string {
		t.Helper()
		img, _, _, errs := checkImage(filepath.Join(f.dir, "t.yaml"), []byte(doc))
		if img == nil {
			t.Fatal(errs)
		}
		d, err := digest(img, []byte(doc), nil)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if digest(doc) == digest(doc2) {
		t.Error("another kernel.deb leaves the digest as it was")
	}
}

func TestKernelDebProfileAddsKernel(t *testing.T) {
	f := newKernelDebFixture(t)
	doc, _ := imageWith("kernel", debKernel("k.deb", f.sums["k.deb"]))
	img := filepath.Join(f.dir, "t.yaml")
	prof := filepath.Join(f.dir, "p.yaml")
	if err := os.WriteFile(img, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prof, []byte("name: p\npackages:\n  - curl\n  - linux-image-amd64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := NewPlan(img, prof, "testdata/hostroot")
	es, ok := asErrors(err)
	if !ok || !findProblem(es, "packages[1]", 4, `"linux-image-amd64" is a kernel package`) || es[0].File != prof {
		t.Fatalf("want the profile's packages[1] refused, got %v", err)
	}
}

// TestReadDebFileTree reads a package's file tree as dpkg does: a kernel that is a hard link
// (a line "h... link to ..." in tar -tv) and one whose name has a space count, symbolic links,
// files below /boot/vmlinuz-x/ and vmlinuz files elsewhere do not.
func TestReadDebFileTree(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not found (install dpkg)")
	}
	root := filepath.Join(t.TempDir(), "root")
	for p, data := range map[string]string{
		"DEBIAN/control":                 "Package: linux-image-test\nVersion: 1:6.1-1~x\nArchitecture: amd64\nMaintainer: t <t@mantlet.invalid>\nDescription: test\n",
		"boot/vmlinuz-6.1.0-28-amd64":    "kernel",
		"boot/vmlinuz-x/y":               "not a kernel",
		"boot/vmlinuz-with space":        "kernel",
		"usr/share/doc/boot/vmlinuz-not": "not a kernel",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(root, "boot/vmlinuz-6.1.0-28-amd64"), filepath.Join(root, "boot/vmlinuz-6.1.0-28-hard")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("vmlinuz-6.1.0-28-amd64", filepath.Join(root, "boot/vmlinuz-link")); err != nil {
		t.Fatal(err)
	}
	deb := filepath.Join(t.TempDir(), "k.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v: %s", err, out)
	}
	d, err := ReadDeb(deb)
	if err != nil {
		t.Fatal(err)
	}
	if d.Package != "linux-image-test" || d.Version != "1:6.1-1~x" || d.Architecture != "amd64" {
		t.Errorf("control %+v", d)
	}
	slices.Sort(d.Kernels)
	if want := []string{"6.1.0-28-amd64", "6.1.0-28-hard", "with space"}; !slices.Equal(d.Kernels, want) {
		t.Errorf("kernels %q, want %q", d.Kernels, want)
	}
}

// FuzzKernelsInTar feeds the file tree reader arbitrary bytes: it must not panic, and a
// kernel it finds is one path element.
func FuzzKernelsInTar(f *testing.F) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "./boot/vmlinuz-6.1.0-28-amd64", Typeflag: tar.TypeReg, Size: 1})
	tw.Write([]byte("k"))
	tw.Close()
	f.Add(b.Bytes())
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, _ := kernelsInTar(bytes.NewReader(data))
		for _, k := range ks {
			if k == "" || strings.Contains(k, "/") {
				t.Fatalf("kernel release %q", k)
			}
		}
	})
}
