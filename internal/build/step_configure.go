package build

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/mantlet/mantlet/internal/tartree"
)

// stepConfigure puts the configuration on top of the package layer (configureTree: the
// first-boot agent, the profiles' files, users and groups, units, what first boot makes) and
// takes the kernel and initrd out for the UKI. The tree is held as the layer's tarball plus
// the edits; the steps after it stream it, nothing is unpacked.
type stepConfigure struct{}

func (*stepConfigure) Name() string { return "configure" }

func (*stepConfigure) Run(ctx context.Context, st *State) error {
	t, err := tartree.Open(st.LayerFile, time.Unix(st.Plan.SourceDateEpoch, 0))
	if err != nil {
		return fmt.Errorf("package layer: %w", err)
	}
	st.Tree = t
	if st.KernelVersion, err = kernelVersion(t); err != nil {
		return err
	}
	if d := st.Plan.KernelDeb; d != nil {
		if err := checkKernelDeb(d, st.Packages, st.KernelVersion); err != nil {
			return err
		}
	}
	st.BootDir = filepath.Join(st.WorkDir, "boot")
	st.Kernel = filepath.Join(st.BootDir, "vmlinuz-"+st.KernelVersion)
	st.Initrd = filepath.Join(st.BootDir, "initrd.img-"+st.KernelVersion)
	for _, f := range []string{st.Kernel, st.Initrd} {
		if err := extract(t, "/boot/"+filepath.Base(f), f); err != nil {
			if strings.Contains(f, "initrd") {
				return fmt.Errorf("no initrd for kernel %s (did initramfs-tools run?): %w", st.KernelVersion, err)
			}
			return err
		}
	}
	agent, err := os.ReadFile(st.Opts.FirstbootBinary)
	if err != nil {
		return fmt.Errorf("first-boot agent: %w", err)
	}
	if err := configureTree(t, st.Plan, agent); err != nil {
		return err
	}
	if err := checkSudoers(ctx, st.Opts.Runner, t, st.WorkDir); err != nil {
		return err
	}
	if st.Opts.KeepWork {
		st.RootTar = filepath.Join(st.WorkDir, "root.tar")
		f, err := os.Create(st.RootTar)
		if err != nil {
			return err
		}
		_, err = t.WriteTo(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil
}

func (*stepConfigure) Cleanup(st *State) {
	if st.Tree != nil {
		st.Tree.Close()
	}
}

// kernelVersion finds the one kernel in the tree's /boot.
func kernelVersion(t *tartree.Tree) (string, error) {
	matches, err := t.Glob("/boot", "vmlinuz-*")
	if err != nil {
		return "", err
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no kernel in /boot: is kernel.package a kernel image package?")
	case 1:
		return strings.TrimPrefix(path.Base(matches[0]), "vmlinuz-"), nil
	default:
		return "", fmt.Errorf("%d kernels in /boot (%s): install exactly one kernel package", len(matches), strings.Join(matches, ", "))
	}
}

// extract copies the file p of the tree to dst on this machine.
func extract(t *tartree.Tree, p, dst string) error {
	r, _, err := t.Open(p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
