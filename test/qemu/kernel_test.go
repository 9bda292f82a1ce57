//go:build qemu

package qemu_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mantlet/mantlet/internal/build"
	"github.com/mantlet/mantlet/internal/qemu"
	"github.com/mantlet/mantlet/internal/spec"
)

// bootModules must reach the initrd, as modules or built in, for the verity root to mount.
var bootModules = []string{"virtio_blk", "dm-verity", "squashfs", "overlay", "ext4"}

// TestCustomKernel builds the default image with kernel.deb instead of kernel.package:
// Debian's cloud kernel, a real kernel other than the default's, fetched with apt-get
// download. It boots it and checks that it runs that kernel, has no other, and that the
// manifest says so.
func TestCustomKernel(t *testing.T) {
	requireBuildHost(t)
	dir := t.TempDir()
	deb := downloadCloudKernel(t, filepath.Join(dir, "kernels"))
	sum, err := spec.FileSHA256(deb)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := spec.ReadDeb(deb)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkg.Kernels) != 1 || !strings.HasSuffix(pkg.Kernels[0], "-cloud-amd64") {
		t.Fatalf("%s ships kernels %q, want one -cloud-amd64", deb, pkg.Kernels)
	}
	release := pkg.Kernels[0]
	t.Logf("custom kernel: %s %s (%s), sha256 %s", pkg.Package, pkg.Version, release, sum)

	// The default definition with the cloud kernel; the initrd list keeps only what the
	// cloud kernel has as modules (it builds some in, and leaves some out).
	img := readImage(t, imageDef)
	mods, builtin := kernelModules(t, deb, release)
	var kept, dropped []string
	for _, m := range img.Kernel.InitrdModules {
		if mods[normModule(m)] {
			kept = append(kept, m)
		} else {
			dropped = append(dropped, m)
		}
	}
	for _, m := range bootModules {
		if !mods[normModule(m)] && !builtin[normModule(m)] {
			t.Fatalf("the cloud kernel has no %s, built in or as a module: it cannot boot this image", m)
		}
	}
	t.Logf("initrd_modules: not modules of %s (built in or absent): %q", release, dropped)
	img.Name = "cloud"
	img.Kernel.Package = ""
	img.Kernel.Deb = &spec.KernelDeb{Path: "kernels/" + filepath.Base(deb), SHA256: sum}
	img.Kernel.InitrdModules = kept
	def := filepath.Join(dir, "cloud.yaml")
	writeImage(t, def, img)
	prof, err := filepath.Abs(profile)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	b, err := buildImageFrom(t, "cloud", def, prof)
	if err != nil {
		t.Fatalf("build with kernel.deb: %v", err)
	}
	t.Logf("built in %.0f s", time.Since(start).Seconds())

	// The manifest names the file, its sum, its package and version, and the kernel release.
	data, err := os.ReadFile(build.ManifestPath(b.out, "cloud"))
	if err != nil {
		t.Fatal(err)
	}
	var m build.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	want := build.KernelInfo{Package: pkg.Package, Version: release, PackageVersion: pkg.Version,
		Deb: &build.KernelDebInfo{Path: "kernels/" + filepath.Base(deb), SHA256: sum}}
	if got := m.Kernel; got.Package != want.Package || got.Version != want.Version || got.PackageVersion != want.PackageVersion ||
		got.Deb == nil || *got.Deb != *want.Deb {
		t.Errorf("manifest kernel %+v (deb %+v), want %+v (deb %+v)", got, got.Deb, want, want.Deb)
	}
	if k := kernelPackages(m.Packages); !slices.Equal(k, []string{pkg.Package}) {
		t.Errorf("manifest packages: kernels %q, want only %s", k, pkg.Package)
	}

	signer, authorized, err := qemu.NewKeyPair("mantlet-test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start = time.Now()
	vm := startVM(t, ctx, b.output(t, "qcow2"), ignitionWithAdmin(t, authorized))
	if err := vm.WaitFor(ctx, booted, bootTimeout); err != nil {
		t.Fatalf("multi-user not reached: %v", err)
	}
	t.Logf("multi-user.target reached %.1f s after QEMU started", time.Since(start).Seconds())
	if err := vm.WaitFor(ctx, "mantlet-firstboot: done", 2*time.Minute); err != nil {
		t.Fatalf("first boot did not finish: %v", err)
	}
	c, err := qemu.DialSSH(ctx, vm.SSHPort(), "admin", signer, qemu.HostKeyFingerprints(vm.Console()), 3*time.Minute)
	if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	defer c.Close()
	run := sshRunner(t, c)
	if got := run("uname -r"); got != release || !strings.HasSuffix(got, "-cloud-amd64") {
		t.Errorf("uname -r = %q, want %s", got, release)
	}
	installed := strings.Fields(run(`dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'linux-image-*' | awk '$1 == "ii" { print $2 }'`))
	if !slices.Equal(installed, []string{pkg.Package}) {
		t.Errorf("installed kernel packages %q, want only %s", installed, pkg.Package)
	}
	if got := run("findmnt -rno SOURCE,FSTYPE /"); got != "/dev/mapper/root squashfs" {
		t.Errorf("/ is %q, want the verity root", got)
	}
	if p := vm.Problems(); len(p) > 0 {
		t.Errorf("console problems: %+v", p)
	}
}

// downloadCloudKernel fetches the newest bookworm cloud kernel image package (the one the
// linux-image-cloud-amd64 meta package depends on) into dir.
func downloadCloudKernel(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get not found: the test fetches Debian's cloud kernel with it")
	}
	out, err := exec.Command("apt-cache", "depends", "--important", "linux-image-cloud-amd64").CombinedOutput()
	if err != nil {
		t.Skipf("apt-cache knows no linux-image-cloud-amd64 (run apt-get update): %v: %s", err, out)
	}
	name := regexp.MustCompile(`(?m)^\s*Depends: (linux-image-\S+-cloud-amd64)$`).FindSubmatch(out)
	if name == nil {
		t.Fatalf("linux-image-cloud-amd64 depends on no cloud kernel:\n%s", out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("apt-get", "download", string(name[1]))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("apt-get download %s failed (is the Debian mirror reachable?): %v: %s", name[1], err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, string(name[1])+"_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("apt-get download %s left %q", name[1], debs)
	}
	return debs[0]
}

// kernelModules lists the modules of release in deb and those built into it (names with
// '_' for '-', as modprobe sees them).
func kernelModules(t *testing.T, deb, release string) (mods, builtin map[string]bool) {
	t.Helper()
	list, err := exec.Command("dpkg-deb", "--contents", deb).Output()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v", err)
	}
	mods = map[string]bool{}
	ko := regexp.MustCompile(`/lib/modules/` + regexp.QuoteMeta(release) + `/kernel/\S*/([^/\s]+)\.ko(\.[a-z]+)?$`)
	for _, line := range strings.Split(string(list), "\n") {
		if m := ko.FindStringSubmatch(line); m != nil {
			mods[normModule(m[1])] = true
		}
	}
	out, err := exec.Command("sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -xO "./lib/modules/$2/modules.builtin"`, "sh", deb, release).Output()
	if err != nil {
		t.Fatalf("modules.builtin of %s: %v", release, err)
	}
	builtin = map[string]bool{}
	for _, line := range strings.Fields(string(out)) {
		builtin[normModule(strings.TrimSuffix(filepath.Base(line), ".ko"))] = true
	}
	return mods, builtin
}

func normModule(m string) string { return strings.ReplaceAll(m, "-", "_") }

func kernelPackages(pkgs []build.Package) []string {
	var k []string
	for _, p := range pkgs {
		if strings.HasPrefix(p.Name, "linux-image-") {
			k = append(k, p.Name)
		}
	}
	return k
}

func readImage(t *testing.T, path string) *spec.Image {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := spec.DecodeImage(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func writeImage(t *testing.T, path string, img *spec.Image) {
	t.Helper()
	data, err := yaml.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
