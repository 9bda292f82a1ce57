package build

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/layercache"
	"github.com/mantlet/mantlet/internal/pipeline"
	"github.com/mantlet/mantlet/internal/spec"
)

// stepRootFS makes the package layer: the root tree as mmdebstrap installs it (the release
// and suites of the plan, the kernel and every package at the version the resolve step found,
// the files that must be there before the kernel is installed), as a sorted, time-clamped
// tarball. It is kept in the layer cache under its key, so a later build with the same key
// takes it from there (checked against the sha256 in the cache's index) instead of installing
// again. Downloaded .deb files are kept in the cache too.
type stepRootFS struct{}

func (*stepRootFS) Name() string { return "rootfs" }

// layerRecipe changes whenever what this code makes of the same inputs changes (other
// mmdebstrap arguments, hooks): layers of an older recipe are never taken.
const layerRecipe = 2 // 2: POSIX ACLs filtered out (mmtarfilterArgs)

// layerInputs is everything that can change the package layer. Its digest is the layer's key.
type layerInputs struct {
	Recipe       int
	Release      string
	Architecture string
	Sources      []string
	Packages     []string
	KernelDeb    string `json:",omitempty"` // the file's sha256
	// Pre digests the files copied in before the kernel is installed: they shape the initrd.
	Pre             string
	Exclude         []string
	Include         []string
	SourceDateEpoch int64
	Mode            string
	Tools           map[string]string
	Resolved        []Package
}

// layerKey is the sha256 of the layer's inputs.
func layerKey(st *State) (string, error) {
	p := st.Plan
	pre, err := treeDigest(filepath.Join(st.StageDir, "pre"))
	if err != nil {
		return "", fmt.Errorf("the files before the kernel: %w", err)
	}
	in := layerInputs{Recipe: layerRecipe, Release: p.Release, Architecture: p.Architecture, Sources: sourceLines(p),
		Packages: p.Packages, Pre: pre, Exclude: p.Exclude, Include: p.Include, SourceDateEpoch: p.SourceDateEpoch,
		Mode: cmpOr(st.Opts.Mode, "auto"), Tools: st.toolVers, Resolved: st.Resolved}
	if d := p.KernelDeb; d != nil {
		in.KernelDeb = d.SHA256
	}
	data, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:]), nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// layerMeta is what the cache keeps with a layer besides its file.
type layerMeta struct {
	Packages []Package `json:"packages"`
}

// rootfsPaths are the host paths mmdebstrap reads and writes.
type rootfsPaths struct {
	Stage    string // StageDir: pre/
	Cache    string // .deb cache
	Lists    string // the package lists the versions were resolved against
	Packages string // dpkg-query output
	Tar      string // the package layer
	// KernelDeb is the checked copy of kernel.deb, at the same path inside the chroot; "" for
	// a kernel from the suites.
	KernelDeb string
}

func (*stepRootFS) Run(ctx context.Context, st *State) error {
	cache, err := layercache.Open(layerDir(st.Opts.CacheDir), st.Opts.CacheMaxSize)
	if err != nil {
		return err
	}
	get := func() bool {
		if st.Opts.NoCache {
			return false
		}
		l, err := cache.Get(ctx, st.LayerKey)
		var ce *layercache.CorruptError
		switch {
		case errors.As(err, &ce):
			slog.Warn(ce.Error())
			return false
		case err != nil:
			if !errors.Is(err, layercache.ErrNotFound) {
				slog.Warn("layer cache", "err", err)
			}
			return false
		}
		var meta layerMeta
		if err := json.Unmarshal(l.Meta, &meta); err != nil || len(meta.Packages) == 0 {
			l.Close()
			slog.Warn("cached layer without a package list: built again", "key", st.LayerKey)
			return false
		}
		st.layer, st.LayerFile, st.Packages, st.LayerCached = l, l.Path, meta.Packages, true
		return true
	}
	if get() {
		return nil
	}
	// One build per key at a time: another that is making this layer stores it for us.
	pending, err := cache.Begin(ctx, st.LayerKey)
	if err != nil {
		return err
	}
	if get() {
		pending.Abort()
		return nil
	}
	p := rootfsPaths{
		Stage:     st.StageDir,
		Cache:     debCache(st),
		Lists:     st.listsDir,
		Packages:  filepath.Join(st.WorkDir, "packages.tsv"),
		Tar:       pending.Path(),
		KernelDeb: st.KernelDeb,
	}
	if _, err := st.Opts.Runner.Run(ctx, command.Cmd{
		Name: "mmdebstrap",
		Args: mmdebstrapArgs(st.Plan, st.Opts.Mode, p),
		Env:  []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", st.Plan.SourceDateEpoch), "LC_ALL=C.UTF-8"},
	}); err != nil {
		pending.Abort()
		return err
	}
	if err := filterLayer(ctx, st.Opts.Runner, p.Tar); err != nil {
		pending.Abort()
		return err
	}
	data, err := os.ReadFile(p.Packages)
	if err != nil {
		pending.Abort()
		return fmt.Errorf("package list: %w", err)
	}
	if st.Packages, err = parsePackages(data); err != nil {
		pending.Abort()
		return err
	}
	if diff := packageDiff(st.Resolved, st.Packages); diff != "" {
		// Not the layer the key promises: used for this build, never stored.
		slog.Warn("the installed packages differ from those resolved before the install; the layer is not cached", "diff", diff)
		own := filepath.Join(st.WorkDir, "layer.tar")
		if err := moveFile(pending.Path(), own); err != nil {
			pending.Abort()
			return err
		}
		pending.Abort()
		st.LayerFile = own
		return nil
	}
	label := fmt.Sprintf("%s %s/%s, %d packages", st.Plan.Name, st.Plan.Release, st.Plan.Architecture, len(st.Packages))
	l, err := pending.Commit(ctx, label, layerMeta{Packages: st.Packages})
	if err != nil {
		return err
	}
	st.layer, st.LayerFile = l, l.Path
	return nil
}

func (*stepRootFS) Cleanup(st *State) {
	if st.layer != nil {
		st.layer.Close()
	}
}

func (*stepRootFS) Outcome(st *State) pipeline.Outcome {
	o := pipeline.Outcome{Cached: st.LayerCached, Key: st.LayerKey}
	switch {
	case st.LayerCached:
	case st.layer != nil:
		o.Note = "stored in the cache"
	default:
		o.Note = "not stored in the cache"
	}
	return o
}

// layerDir is where the package layers are kept.
func layerDir(cacheDir string) string { return filepath.Join(cacheDir, "layers") }

// packageDiff says how two package lists differ ("" when they are the same).
func packageDiff(want, got []Package) string {
	w := map[string]Package{}
	for _, p := range want {
		w[p.Name] = p
	}
	var d []string
	seen := map[string]bool{}
	for _, p := range got {
		seen[p.Name] = true
		switch q, ok := w[p.Name]; {
		case !ok:
			d = append(d, "+"+p.Name+" "+p.Version)
		case q != p:
			d = append(d, p.Name+" "+q.Version+" -> "+p.Version)
		}
	}
	for _, p := range want {
		if !seen[p.Name] {
			d = append(d, "-"+p.Name+" "+p.Version)
		}
	}
	sort.Strings(d)
	return strings.Join(d, ", ")
}

// moveFile renames src to dst, copying when they are on different file systems.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	if _, err := copyWithSHA256(src, dst); err != nil {
		return err
	}
	return os.Remove(src)
}

// treeDigest is the sha256 of the files under dir: relative path, mode and content of each.
func treeDigest(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %o %d\n", filepath.ToSlash(rel), info.Mode(), len(data))
		h.Write(data)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
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

func debCache(st *State) string {
	return filepath.Join(st.Opts.CacheDir, "debs", st.Plan.Release+"-"+st.Plan.Architecture)
}

// mmdebstrapArgs builds mmdebstrap's argument list for the package layer. Pure: golden-tested.
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
		// The package lists the versions were resolved against: installed from as they are.
		"--skip=update",
		`--setup-hook=mkdir -p "$1"/var/lib/apt/lists/`,
		"--setup-hook=sync-in "+shellQuote(paths.Lists)+" /var/lib/apt/lists/",
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
		`--customize-hook=chroot "$1" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' > `+shellQuote(paths.Packages),
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

// filterLayer passes the layer's tarball through mmtarfilter once, when the layer is made:
// it drops the xattrs tar2sqfs cannot store (mmtarfilterArgs).
func filterLayer(ctx context.Context, r command.Runner, tar string) error {
	in, err := os.Open(tar)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := tar + ".filtered"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = r.Run(ctx, command.Cmd{Name: "mmtarfilter", Args: mmtarfilterArgs(), Stdin: in, Stdout: out})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("filter the package layer: %w", err)
	}
	return os.Rename(tmp, tar)
}

// mmtarfilterArgs drops the xattrs tar2sqfs refuses (it stores only user., trusted. and
// security. ones): system.posix_acl_access and system.posix_acl_default (systemd's
// tmpfiles.d puts an ACL on /var/log/journal, and sets it again on every boot). File
// capabilities (security.*) and the rest stay. Pure: table-tested.
func mmtarfilterArgs() []string {
	return []string{"--pax-exclude=SCHILY.xattr.system.*"}
}
