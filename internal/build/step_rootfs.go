package build

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/spec"
)

// stepRootFS runs mmdebstrap once: the release and suites of the plan, the kernel and every
// package at the newest version the sources offer (so the latest security update), the
// staged files, and the customize script. Out come a reproducible tarball of the root tree
// (mmdebstrap sorts it and clamps times to SOURCE_DATE_EPOCH), the kernel and initrd, and the
// list of installed packages. Downloaded .deb files are kept in the cache between builds.
type stepRootFS struct{}

func (*stepRootFS) Name() string { return "rootfs" }

// rootfsPaths are the host paths mmdebstrap reads and writes.
type rootfsPaths struct {
	Stage    string // StageDir: pre/ and files/
	Cache    string // .deb cache
	BootOut  string // where /boot is copied out
	Packages string // dpkg-query output
	Tar      string // the root tree tarball
	// KernelDeb is the checked copy of kernel.deb, at the same path inside the chroot; "" for
	// a kernel from the suites.
	KernelDeb string
}

func (*stepRootFS) Run(ctx context.Context, st *State) error {
	p := rootfsPaths{
		Stage:     st.StageDir,
		Cache:     debCache(st),
		BootOut:   filepath.Join(st.WorkDir, "boot"),
		Packages:  filepath.Join(st.WorkDir, "packages.tsv"),
		Tar:       filepath.Join(st.WorkDir, "root.tar"),
		KernelDeb: st.KernelDeb,
	}
	if err := os.MkdirAll(p.BootOut, 0o755); err != nil {
		return err
	}
	_, err := st.Opts.Runner.Run(ctx, command.Cmd{
		Name: "mmdebstrap",
		Args: mmdebstrapArgs(st.Plan, st.Opts.Mode, p),
		Env:  []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", st.Plan.SourceDateEpoch), "LC_ALL=C.UTF-8"},
	})
	if err != nil {
		return err
	}
	st.RootTar, st.BootDir = p.Tar, p.BootOut
	data, err := os.ReadFile(p.Packages)
	if err != nil {
		return fmt.Errorf("package list: %w", err)
	}
	if st.Packages, err = parsePackages(data); err != nil {
		return err
	}
	st.KernelVersion, err = kernelVersion(p.BootOut)
	if err != nil {
		return err
	}
	st.Kernel = filepath.Join(p.BootOut, "vmlinuz-"+st.KernelVersion)
	st.Initrd = filepath.Join(p.BootOut, "initrd.img-"+st.KernelVersion)
	if !exists(st.Initrd) {
		return fmt.Errorf("no initrd for kernel %s: initramfs-tools did not run", st.KernelVersion)
	}
	if d := st.Plan.KernelDeb; d != nil {
		return checkKernelDeb(d, st.Packages, st.KernelVersion)
	}
	return nil
}

// checkKernelDeb checks that the tree has the kernel of kernel.deb and no other: its package at
// its version, its release in /boot, no other kernel package installed.
func checkKernelDeb(d *spec.PlanKernelDeb, pkgs []Package, release string) error {
	var others []string
	installed := ""
	for _, p := range pkgs {
		switch {
		case p.Name == d.Package:
			installed = p.Version
		case strings.HasPrefix(p.Name, "linux-image-") && !strings.HasSuffix(p.Name, "-dbg"):
			others = append(others, p.Name+" "+p.Version)
		}
	}
	switch {
	case installed == "":
		return fmt.Errorf("kernel.deb %s: package %s is not installed", d.Path, d.Package)
	case installed != d.Version:
		return fmt.Errorf("kernel.deb %s: %s %s is installed, not the file's version %s", d.Path, d.Package, installed, d.Version)
	case len(others) > 0:
		return fmt.Errorf("kernel.deb %s: other kernel packages were installed too (%s): an image has exactly one kernel", d.Path, strings.Join(others, ", "))
	case release != d.Release:
		return fmt.Errorf("kernel.deb %s: /boot has kernel %s, the package ships %s", d.Path, release, d.Release)
	}
	return nil
}

func (*stepRootFS) Cleanup(*State) {}

func debCache(st *State) string {
	return filepath.Join(st.Opts.CacheDir, "debs", st.Plan.Release+"-"+st.Plan.Architecture)
}

// mmdebstrapArgs builds mmdebstrap's argument list. Pure: table-tested.
func mmdebstrapArgs(p *spec.Plan, mode string, paths rootfsPaths) []string {
	if mode == "" {
		mode = "auto"
	}
	args := []string{
		"--mode=" + mode,
		"--variant=minbase",
		"--architectures=" + p.Architecture,
		"--include=" + strings.Join(p.Packages, ","),
	}
	if paths.KernelDeb != "" {
		// A path is one --include of its own: mmdebstrap passes it to apt unsplit, and apt
		// installs that file, its dependencies from the suites.
		args = append(args, "--include="+paths.KernelDeb)
	}
	args = append(args, "--dpkgopt=force-unsafe-io")
	// dpkg applies path-exclude and path-include in order: excludes first, then re-includes.
	for _, e := range p.Exclude {
		args = append(args, "--dpkgopt=path-exclude="+e)
	}
	for _, i := range p.Include {
		args = append(args, "--dpkgopt=path-include="+i)
	}
	args = append(args,
		"--aptopt=Acquire::Retries \"3\"",
		// The .deb cache: reuse what earlier builds downloaded, keep what this one adds.
		"--skip=download/empty",
		"--skip=essential/unlink",
		`--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
		"--setup-hook=sync-in "+shellQuote(paths.Cache)+" /var/cache/apt/archives/",
	)
	if paths.KernelDeb != "" {
		// apt hands the file's path to dpkg inside the chroot: the same path must be there.
		// An archive package of the same name and version is the same version to apt, which
		// then fetches it unless the archive cache holds a file with the index's sha256: so
		// the copy goes there too, and an identical archive package is installed from it.
		dir := filepath.Dir(paths.KernelDeb)
		args = append(args,
			`--setup-hook=mkdir -p "$1"`+shellQuote(dir),
			"--setup-hook=copy-in "+shellQuote(paths.KernelDeb)+" "+shellQuote(dir),
			"--setup-hook=copy-in "+shellQuote(paths.KernelDeb)+" /var/cache/apt/archives/",
		)
	}
	args = append(args,
		// Before the kernel is installed: the initrd configuration.
		"--essential-hook=sync-in "+shellQuote(filepath.Join(paths.Stage, "pre"))+" /",
	)
	if paths.KernelDeb != "" && p.KernelDeb != nil {
		// The files dpkg installed are the copy's: dpkg keeps a package's md5sums as they
		// are (none when it has none). They differ when apt fetched an archive package of the
		// same name and version but other contents. Then the copies leave the tree (and the
		// .deb cache).
		md5sums := `"$1"/var/lib/dpkg/info/` + shellQuote(p.KernelDeb.Package+".md5sums")
		msg := "mantlet: the installed " + p.KernelDeb.Package + " is not kernel.deb " + p.KernelDeb.Path +
			" (md5sums differ): the suites have a package of that name and version with other contents; give yours a version of its own"
		args = append(args,
			`--customize-hook=[ "$(dpkg-deb --info `+shellQuote(paths.KernelDeb)+` md5sums 2>/dev/null)" = "$(cat `+md5sums+` 2>/dev/null)" ]`+
				" || { echo "+shellQuote(msg)+" >&2; exit 1; }",
			`--customize-hook=rm -rf "$1"`+shellQuote(filepath.Dir(paths.KernelDeb))+
				` "$1"/var/cache/apt/archives/`+shellQuote(filepath.Base(paths.KernelDeb)),
		)
	}
	args = append(args,
		"--customize-hook=sync-out /var/cache/apt/archives "+shellQuote(paths.Cache),
		"--customize-hook=copy-out /boot "+shellQuote(filepath.Dir(paths.BootOut)),
		`--customize-hook=chroot "$1" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' > `+shellQuote(paths.Packages),
		"--customize-hook=sync-in "+shellQuote(filepath.Join(paths.Stage, "files"))+" /",
		`--customize-hook=chroot "$1" /bin/sh `+customizePath,
		p.Release,
		paths.Tar,
	)
	for _, s := range p.Sources {
		args = append(args, "deb "+s.URI+" "+s.Suite+" "+strings.Join(s.Components, " "))
	}
	return args
}

// parsePackages reads dpkg-query's Package\tVersion\tArchitecture lines, sorted by name.
func parsePackages(data []byte) ([]Package, error) {
	var pkgs []Package
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("package list line %d: %q is not name, version, architecture", n, line)
		}
		pkgs = append(pkgs, Package{Name: f[0], Version: f[1], Arch: f[2]})
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("package list is empty")
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	return pkgs, sc.Err()
}

// kernelVersion finds the one kernel in the copied-out /boot.
func kernelVersion(boot string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(boot, "vmlinuz-*"))
	if err != nil {
		return "", err
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no kernel in /boot: is kernel.package a kernel image package?")
	case 1:
		return strings.TrimPrefix(filepath.Base(matches[0]), "vmlinuz-"), nil
	default:
		return "", fmt.Errorf("%d kernels in /boot (%s): install exactly one kernel package", len(matches), strings.Join(matches, ", "))
	}
}
