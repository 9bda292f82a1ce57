// Package build is the image build pipeline shared by `mantlet build`, the Packer plugin and
// the QEMU harness: from a Plan (image definition + profiles) to a bootable, read-only,
// verity-protected disk image in the requested formats and its manifest.
package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/layercache"
	"github.com/mantlet/mantlet/internal/pipeline"
	"github.com/mantlet/mantlet/internal/spec"
	"github.com/mantlet/mantlet/internal/tartree"
)

// Options are what a caller chooses beyond the Plan.
type Options struct {
	OutDir string // outputs land here, each renamed into place when complete
	// CacheDir keeps what builds can share: downloaded .deb files, package lists, package
	// layers; "" uses DefaultCacheDir.
	CacheDir string
	// CacheMaxSize bounds the package layers kept in CacheDir (least recently used go first);
	// 0 uses layercache.DefaultMaxSize.
	CacheMaxSize int64
	// NoCache builds the package layer afresh (storing it) and every output, even when the
	// cache or the output directory has them.
	NoCache bool
	// Sequential runs one after the other the steps that would run at the same time.
	Sequential bool
	// FirstbootBinary is the static mantlet-firstboot executable baked into the image.
	FirstbootBinary string
	// Mode is mmdebstrap's --mode (auto, root, unshare, fakeroot, ...); "" means auto.
	Mode string
	// KeepWork leaves the work directory behind for debugging.
	KeepWork bool
	// Stub is systemd-boot's EFI stub for the UKI; "" uses the one from systemd-boot-efi.
	Stub   string
	Runner command.Runner
}

// State is the one typed value the steps pass along: inputs first, then what each step makes.
type State struct {
	Plan *spec.Plan
	Opts Options

	WorkDir  string // temporary, under OutDir so that outputs can be renamed into place
	StageDir string // StageDir/pre: copied into the root tree before the kernel is installed

	// kernel: the checked copy of kernel.deb that mmdebstrap installs ("" for the suites' kernel)
	KernelDeb    string
	kernelDebDir string

	// resolve: every package of the package layer at the version apt resolved against the
	// sources before anything is installed, and the layer's key, which they are part of
	Resolved  []Package
	LayerKey  string
	listsDir  string            // the package lists resolved against, for mmdebstrap
	toolVers  map[string]string // mmdebstrap's and apt's versions
	listsHash string

	// uptodate: the digest of every input of the outputs; UpToDate when the output directory
	// already has them, verified
	InputsDigest string
	UpToDate     bool
	upToDateNote string

	// rootfs: the package layer (from the cache when LayerCached) and its packages
	LayerCached bool
	LayerFile   string
	layer       *layercache.Layer
	Packages    []Package

	// configure: the root tree, the layer with the configuration on top; the kernel and initrd
	Tree          *tartree.Tree
	RootTar       string // the tree as a tarball, written only with KeepWork (for debugging)
	BootDir       string
	KernelVersion string // e.g. 6.1.0-28-amd64
	Kernel        string // path of vmlinuz
	Initrd        string // path of the initrd

	// rootimage, verity, uki, disk, bmap
	RootImage   string
	RootDigest  string // sha256 of the root image
	HashImage   string
	Verity      Verity
	UKI         string
	ukiArtifact Artifact
	Cmdline     string
	RawDisk     string
	Partitions  []PartitionInfo
	Bmap        string // the raw disk's block map, when raw is a format

	Outputs []Output
	Tools   ToolVersions // prepare: what made the image, for the manifest
}

// Package is one installed Debian package, as dpkg reports it.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
}

// Output is one file the build wrote to OutDir.
type Output struct {
	Format string `json:"format"`
	File   string `json:"file"`
	Size   int64  `json:"size"`
	// SHA256 is the sha256 of the whole file. A raw image has none: its block map pins it.
	SHA256 string `json:"sha256,omitempty"`
	// Bmap names the raw image's block map (bmaptool's format: every range of 4 KiB blocks
	// that hold data, with its sha256; the rest is zeros) and BmapSHA256 is its sha256.
	Bmap       string `json:"bmap,omitempty"`
	BmapSHA256 string `json:"bmap_sha256,omitempty"`
}

// Steps is the build pipeline, in order.
func Steps() []pipeline.Step[*State] {
	return []pipeline.Step[*State]{
		&stepPrepare{},
		&stepStage{},
		&stepKernel{},
		&stepResolve{},
		&stepUpToDate{},
		&stepRootFS{},
		&stepConfigure{},
		pipeline.Parallel[*State](&stepInspect{}, &stepRootImage{}),
		&stepVerity{},
		&stepUKI{},
		&stepDisk{},
		pipeline.Parallel[*State](&stepConvert{}, &stepBmap{}),
		&stepManifest{},
	}
}

// Build runs the pipeline for plan and returns the final state (outputs, manifest data).
func Build(ctx context.Context, plan *spec.Plan, opts Options, report pipeline.Reporter) (*State, error) {
	if opts.Runner == nil {
		opts.Runner = command.Exec{}
	}
	if opts.CacheDir == "" {
		opts.CacheDir = DefaultCacheDir()
	}
	if err := CheckOptions(plan, opts); err != nil {
		return nil, err
	}
	st := &State{Plan: plan, Opts: opts}
	err := pipeline.RunWith(ctx, Steps(), st, report, pipeline.Options{Sequential: opts.Sequential})
	return st, err
}

// CheckOptions validates everything a build needs before any work starts: the output
// directory, the first-boot binary, the formats, the tools.
func CheckOptions(plan *spec.Plan, opts Options) error {
	var errs []error
	if opts.OutDir == "" {
		errs = append(errs, errors.New("--output: an output directory is required"))
	}
	if err := checkStatic(opts.FirstbootBinary); err != nil {
		errs = append(errs, fmt.Errorf("--firstboot %s: %w (build it with 'make build')", opts.FirstbootBinary, err))
	}
	for _, f := range plan.Formats {
		if _, ok := formats[f]; !ok {
			errs = append(errs, fmt.Errorf("--format %s: unknown format (one of %s)", f, formatNames()))
		}
	}
	if plan.RootFSType != "squashfs" {
		errs = append(errs, fmt.Errorf("rootfs.type %s: this build writes squashfs roots only; set rootfs.type: squashfs", plan.RootFSType))
	}
	if _, ok := opts.Runner.(command.Exec); ok {
		if err := command.Require(requiredTools...); err != nil {
			errs = append(errs, err)
		}
		if stub := stubPath(opts); !exists(stub) {
			errs = append(errs, fmt.Errorf("systemd-boot EFI stub %s: not found (install systemd-boot-efi, or run 'make deps')", stub))
		}
	}
	return errors.Join(errs...)
}

var requiredTools = []string{"mmdebstrap", "mmtarfilter", "apt-get", "tar2sqfs", "veritysetup", "objcopy", "qemu-img"}

// DefaultCacheDir is where .deb files, package lists and package layers are kept between
// builds.
func DefaultCacheDir() string {
	if d := os.Getenv("MANTLET_CACHE"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/cache/mantlet"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "mantlet")
	}
	return filepath.Join(os.TempDir(), "mantlet-cache")
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
