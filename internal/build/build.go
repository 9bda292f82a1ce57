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
	"time"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/pipeline"
	"github.com/mantlet/mantlet/internal/spec"
)

// Options are what a caller chooses beyond the Plan.
type Options struct {
	OutDir string // outputs land here, each renamed into place when complete
	// CacheDir keeps downloaded .deb files between builds; "" uses DefaultCacheDir.
	CacheDir string
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
	StageDir string // files copied into the root tree by mmdebstrap hooks

	// kernel: the checked copy of kernel.deb that mmdebstrap installs ("" for the suites' kernel)
	KernelDeb    string
	kernelDebDir string

	// rootfs
	RootTar       string
	BootDir       string
	KernelVersion string // e.g. 6.1.0-28-amd64
	Kernel        string // path of vmlinuz
	Initrd        string // path of the initrd
	Packages      []Package

	// rootimage, verity
	RootImage  string
	HashImage  string
	Verity     Verity
	UKI        string
	Cmdline    string
	RawDisk    string
	Partitions []PartitionInfo

	Outputs []Output
	Started time.Time
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
	SHA256 string `json:"sha256"`
}

// Steps is the build pipeline, in order.
func Steps() []pipeline.Step[*State] {
	return []pipeline.Step[*State]{
		&stepPrepare{},
		&stepStage{},
		&stepKernel{},
		&stepRootFS{},
		&stepInspect{},
		&stepRootImage{},
		&stepVerity{},
		&stepUKI{},
		&stepDisk{},
		&stepConvert{},
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
	st := &State{Plan: plan, Opts: opts, Started: time.Now()}
	err := pipeline.Run(ctx, Steps(), st, report)
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

var requiredTools = []string{"mmdebstrap", "mmtarfilter", "tar2sqfs", "veritysetup", "objcopy", "qemu-img"}

// DefaultCacheDir is where .deb files are kept between builds.
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
