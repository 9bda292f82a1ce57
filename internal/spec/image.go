package spec

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Releases are the Debian codenames mantlet builds, with their version. Add trixie here
// once its images are tested.
var Releases = map[string]string{
	"bookworm": "12",
}

// suiteSuffixes are the suites besides the release itself: release-updates and so on.
var suiteSuffixes = []string{"-updates", "-security", "-backports"}

// Components are the archive components an image may use.
var Components = []string{"main", "contrib", "non-free", "non-free-firmware"}

// Architectures are the Debian architectures mantlet builds.
var Architectures = []string{"amd64"}

// compressions are the compressors each root filesystem type accepts; the first is the default.
var compressions = map[string][]string{
	"squashfs": {"zstd", "xz", "gzip", "lz4", "lzo"},
	"erofs":    {"lz4hc", "lz4", "none"},
}

// Minimum sizes of the partitions.
const (
	minRootSize = 64 * MiB
	minESPSize  = 33 * MiB // the smallest FAT32 file system
	maxSize     = 64 * TiB // larger is a typo, and sums of sizes must not overflow
	blockSize   = 4096
)

// now is the clock that source_date_epoch is checked against; tests replace it.
var now = time.Now

// getenv reads SOURCE_DATE_EPOCH; tests replace it.
var getenv = os.Getenv

// sourceDateEpoch applies SOURCE_DATE_EPOCH from the environment, as reproducible-build
// tooling sets it (https://reproducible-builds.org/specs/source-date-epoch/): it stands in for
// a definition without source_date_epoch, and must agree with one that has it, since the
// definition's pins the image's bytes and a silent override would make another image.
func (c *checker) sourceDateEpoch(img *Image) {
	env := getenv("SOURCE_DATE_EPOCH")
	if env == "" {
		return
	}
	v, err := strconv.ParseInt(env, 10, 64)
	if err != nil || v <= 0 {
		c.errorf("source_date_epoch", "SOURCE_DATE_EPOCH=%q in the environment is not a positive number of seconds since 1970: fix or unset it", env)
		return
	}
	switch {
	case img.SourceDateEpoch == 0:
		img.SourceDateEpoch = v
	case img.SourceDateEpoch != v:
		c.errorf("source_date_epoch", "%d, but SOURCE_DATE_EPOCH=%d in the environment: the definition's pins the image; set SOURCE_DATE_EPOCH=%d, or unset it, or change source_date_epoch",
			img.SourceDateEpoch, v, img.SourceDateEpoch)
	}
}

// ValidateImage checks every field of an image definition and returns every problem at once;
// pos (from DecodeImage) gives the lines. Warnings do not stop a build.
//
// A kernel.deb is checked in full: its sha256, then (with dpkg-deb) that it is a kernel image
// package of the image's architecture. What was read of it is kept in img for the plan.
func ValidateImage(img *Image, pos *Positions) (warnings, errs Errors) {
	c := &checker{pos: pos, kind: "image definition"}
	c.name("name", img.Name)
	c.release(img)
	c.components(img.Components)
	if img.Architecture != "" && !slices.Contains(Architectures, img.Architecture) {
		c.errorf("architecture", "%q is not supported (%s)", img.Architecture, strings.Join(Architectures, ", "))
	}
	if m := img.Mirror; m != nil {
		if m.Debian == "" {
			c.errorf("mirror.debian", "required when mirror is set")
		} else {
			c.httpURL("mirror.debian", m.Debian)
		}
		if m.Security != "" {
			c.httpURL("mirror.security", m.Security)
		}
	}
	c.sourceDateEpoch(img)
	switch t := now().Unix(); {
	case img.SourceDateEpoch <= 0:
		c.errorf("source_date_epoch", "required (or SOURCE_DATE_EPOCH in the environment): a positive number of seconds since 1970 (date +%%s)")
	case img.SourceDateEpoch > t:
		c.errorf("source_date_epoch", "%d is in the future (now %d)", img.SourceDateEpoch, t)
	}
	c.kernel(&img.Kernel, filepath.Dir(pos.File), cmp.Or(img.Architecture, Architectures[0]))
	c.packages("packages", img.Packages)
	for i, pkg := range img.Packages {
		if isKernelPackage(pkg) && pkg != img.Kernel.Package {
			c.errorf(fmt.Sprintf("packages[%d]", i), "%s", oneKernel(pkg))
		}
	}
	c.rootfs(img.RootFS)
	c.disk(img.Disk)
	if pos.Has("formats") || len(img.Formats) > 0 {
		for _, fe := range checkFormats(img.Formats) {
			c.errorf("formats"+fe.Path, "%s", fe.Msg)
		}
	}
	return c.done()
}

func (c *checker) release(img *Image) {
	if _, ok := Releases[img.Release]; !ok {
		names := make([]string, 0, len(Releases))
		for r := range Releases {
			names = append(names, r)
		}
		sort.Strings(names)
		if img.Release == "" {
			c.errorf("release", "required (%s)", strings.Join(names, ", "))
		} else {
			c.errorf("release", "%q is not a supported Debian release (%s)", img.Release, strings.Join(names, ", "))
		}
		return // the suites cannot be checked against an unknown release
	}
	if len(img.Suites) == 0 {
		c.errorf("suites", "at least one suite is required, starting with %q", img.Release)
		return
	}
	seen := map[string]int{}
	for i, s := range img.Suites {
		p := fmt.Sprintf("suites[%d]", i)
		if j, dup := seen[s]; dup {
			c.errorf(p, "%q is already at suites[%d]", s, j)
			continue
		}
		seen[s] = i
		ok := s == img.Release
		for _, suf := range suiteSuffixes {
			ok = ok || s == img.Release+suf
		}
		if !ok {
			c.errorf(p, "%q is not a suite of %s (%s, or %s with -updates, -security or -backports)", s, img.Release, img.Release, img.Release)
		}
	}
	if _, ok := seen[img.Release]; !ok {
		c.errorf("suites", "the release suite %q is missing", img.Release)
	}
}

func (c *checker) components(comps []string) {
	seen := map[string]bool{}
	for i, comp := range comps {
		p := fmt.Sprintf("components[%d]", i)
		switch {
		case !slices.Contains(Components, comp):
			c.errorf(p, "%q is not a Debian component (%s)", comp, strings.Join(Components, ", "))
		case seen[comp]:
			c.errorf(p, "%q is listed twice", comp)
		}
		seen[comp] = true
	}
}

func (c *checker) kernel(k *Kernel, dir, arch string) {
	switch {
	case k.Package != "" && k.Deb != nil:
		c.errorf("kernel", "both package and deb are set: give exactly one (package: from the suites; deb: a kernel package file)")
	case k.Deb != nil:
		c.kernelDeb(k.Deb, dir, arch)
	case k.Package == "":
		c.errorf("kernel.package", "required, such as linux-image-amd64 (or kernel.deb: a kernel package file)")
	case !debPackage.MatchString(k.Package):
		c.errorf("kernel.package", "%q is not a Debian package name", k.Package)
	}
	c.cmdline("kernel.cmdline", k.Cmdline)
	seen := map[string]int{}
	for i, m := range k.InitrdModules {
		p := fmt.Sprintf("kernel.initrd_modules[%d]", i)
		if !kernelModule.MatchString(m) {
			c.errorf(p, "%q is not a kernel module name (letters, digits, '_' and '-')", m)
			continue
		}
		norm := strings.ReplaceAll(m, "-", "_")
		if j, dup := seen[norm]; dup {
			c.warnf(p, "module %q is already at kernel.initrd_modules[%d]", m, j)
		}
		seen[norm] = i
	}
}

// isKernelPackage reports whether an archive package name is a kernel image (or the meta
// package of one); debug symbols (-dbg) are not.
func isKernelPackage(name string) bool {
	return strings.HasPrefix(name, "linux-image-") && !strings.HasSuffix(name, "-dbg")
}

// oneKernel is the problem with a package list that names a second kernel.
func oneKernel(pkg string) string {
	return fmt.Sprintf("%q is a kernel package: an image has exactly one kernel, named by kernel.package or kernel.deb of the image definition", pkg)
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// kernelDeb checks a kernel package file: where it is, its sha256 (before anything reads
// it), then what it is. On success what was read is kept in d for the plan.
func (c *checker) kernelDeb(d *KernelDeb, dir, arch string) {
	const pp, ps = "kernel.deb.path", "kernel.deb.sha256"
	sumOK := false
	switch {
	case d.SHA256 == "":
		// Reported below, with the file's sum when it can be read.
	case !sha256Hex.MatchString(d.SHA256):
		c.errorf(ps, "%q is not a sha256: 64 lower-case hex digits, as sha256sum prints", d.SHA256)
	default:
		sumOK = true
	}
	if d.Path == "" {
		c.errorf(pp, "required: a linux-image-*.deb file, relative to the image definition")
		if d.SHA256 == "" {
			c.errorf(ps, "required: the file's sha256, as sha256sum prints")
		}
		return
	}
	if !c.source(pp, dir, d.Path) {
		if d.SHA256 == "" {
			c.errorf(ps, "required: the file's sha256, as sha256sum prints")
		}
		return
	}
	got, err := FileSHA256(filepath.Join(dir, filepath.FromSlash(d.Path)))
	switch {
	case err != nil:
		c.errorf(pp, "%v", err)
		return
	case d.SHA256 == "":
		c.errorf(ps, "required: the file's sha256 (%q is now %s; check it against where the file came from)", d.Path, got)
		return
	case !sumOK:
		return
	case got != d.SHA256:
		c.errorf(ps, "%q does not have this sha256: expected %s, got %s (the file changed, or the sha256 is wrong)", d.Path, d.SHA256, got)
		return
	}
	pkg, err := ReadDeb(filepath.Join(dir, filepath.FromSlash(d.Path)))
	if err != nil {
		c.errorf(pp, "%q: %v", d.Path, err)
		return
	}
	ok := true
	if !strings.HasPrefix(pkg.Package, "linux-image-") {
		c.errorf(pp, "%q is package %s, not a kernel image package (linux-image-*)", d.Path, pkg.Package)
		ok = false
	}
	if pkg.Architecture != arch {
		c.errorf(pp, "%q is for architecture %s, not the image's %s", d.Path, pkg.Architecture, arch)
		ok = false
	}
	if ok && len(pkg.Kernels) != 1 {
		if len(pkg.Kernels) == 0 {
			c.errorf(pp, "%q (%s) ships no kernel (/boot/vmlinuz-*): a meta package such as linux-image-amd64 only depends on one; give the package that ships it", d.Path, pkg.Package)
		} else {
			c.errorf(pp, "%q ships %d kernels (%s): an image has exactly one", d.Path, len(pkg.Kernels), strings.Join(pkg.Kernels, ", "))
		}
		ok = false
	}
	if ok {
		d.pkg = pkg
	}
}

func (c *checker) rootfs(r RootFS) {
	comps, ok := compressions[r.Type]
	switch {
	case r.Type == "":
		c.errorf("rootfs.type", "required: squashfs or erofs")
	case !ok:
		c.errorf("rootfs.type", "%q is not supported: squashfs or erofs", r.Type)
	case r.Compression != "" && !slices.Contains(comps, r.Compression):
		c.errorf("rootfs.compression", "%q is not a %s compressor (%s)", r.Compression, r.Type, strings.Join(comps, ", "))
	}
	c.absGlobs("rootfs.exclude", r.Exclude)
	c.absGlobs("rootfs.include", r.Include)
	if len(r.Include) > 0 && len(r.Exclude) == 0 {
		c.warnf("rootfs.include", "include only re-includes what exclude leaves out, and exclude is empty")
	}
}

func (c *checker) disk(d Disk) {
	root := c.size("disk.root_size", d.RootSize, true, false)
	if root > 0 {
		if root%blockSize != 0 {
			c.errorf("disk.root_size", "%s is not a multiple of 4096 bytes", d.RootSize)
		}
		if root < minRootSize {
			c.errorf("disk.root_size", "%s is smaller than the minimum %s", d.RootSize, FormatSize(minRootSize))
		}
	}
	if esp := c.size("disk.esp_size", d.ESPSize, true, false); esp > 0 && esp < minESPSize {
		c.errorf("disk.esp_size", "%s is smaller than %s, the smallest FAT32 file system", d.ESPSize, FormatSize(minESPSize))
	}
	if v := c.size("disk.verity_size", d.VeritySize, false, false); v > 0 {
		if v%blockSize != 0 {
			c.errorf("disk.verity_size", "%s is not a multiple of 4096 bytes", d.VeritySize)
		}
		if need := verityHashSize(root); root > 0 && v < need {
			c.errorf("disk.verity_size", "%s cannot hold the hash tree of a %s root (%d bytes needed); leave it unset for root_size/64", d.VeritySize, d.RootSize, need)
		}
	}
	c.size("disk.state_min_size", d.StateMinSize, false, true)
}

// size parses the size at p; it returns 0 when it is unset or invalid (and says so).
func (c *checker) size(p, s string, required, allowZero bool) int64 {
	if s == "" {
		if required {
			c.errorf(p, "required: a size such as 1GiB")
		}
		return 0
	}
	n, err := ParseSize(s)
	if err != nil {
		c.errorf(p, "%v", err)
		return 0
	}
	switch {
	case n == 0 && !allowZero:
		c.errorf(p, "must be larger than zero")
	case n > maxSize:
		c.errorf(p, "%s is larger than %s", s, FormatSize(maxSize))
		return 0
	}
	return n
}
