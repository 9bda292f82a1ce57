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
}

func (*stepRootFS) Run(ctx context.Context, st *State) error {
	p := rootfsPaths{
		Stage:    st.StageDir,
		Cache:    debCache(st),
		BootOut:  filepath.Join(st.WorkDir, "boot"),
		Packages: filepath.Join(st.WorkDir, "packages.tsv"),
		Tar:      filepath.Join(st.WorkDir, "root.tar"),
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
		"--dpkgopt=force-unsafe-io",
	}
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
		// Before the kernel is installed: the initrd configuration.
		"--essential-hook=sync-in "+shellQuote(filepath.Join(paths.Stage, "pre"))+" /",
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
