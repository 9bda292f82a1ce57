package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mantlet/mantlet/internal/spec"
)

// stepKernel copies a custom kernel package (kernel.deb) to where mmdebstrap installs it
// from, checking its sha256 on the way: the copy is what gets installed, so a file changed
// since validation cannot slip in. A kernel from the suites needs nothing here.
type stepKernel struct{}

func (*stepKernel) Name() string { return "kernel" }

// kernelDebParent holds the copy. apt hands the path of a local package to dpkg, which runs
// inside the chroot, so the file must be at the same path inside and out: /tmp exists in both
// (mmdebstrap makes the chroot's), and mmdebstrap empties the chroot's /tmp at its end.
const kernelDebParent = "/tmp"

func (*stepKernel) Run(_ context.Context, st *State) error {
	d := st.Plan.KernelDeb
	if d == nil {
		return nil
	}
	dir, err := os.MkdirTemp(kernelDebParent, "mantlet-kernel-")
	if err != nil {
		return fmt.Errorf("kernel.deb: %w", err)
	}
	st.kernelDebDir = dir
	// mmdebstrap's unshare mode reads it as an unprivileged user; only root can change it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(dir, debFileName(d))
	sum, err := copyWithSHA256(d.File, dst)
	if err != nil {
		return fmt.Errorf("kernel.deb %s: %w", d.Path, err)
	}
	if sum != d.SHA256 {
		return fmt.Errorf("kernel.deb %s changed since it was checked: sha256 expected %s, got %s", d.Path, d.SHA256, sum)
	}
	st.KernelDeb = dst
	return nil
}

func (*stepKernel) Cleanup(st *State) {
	if st.kernelDebDir == "" {
		return
	}
	if err := os.RemoveAll(st.kernelDebDir); err != nil {
		slog.Warn("cannot remove the kernel package copy", "dir", st.kernelDebDir, "err", err)
	}
}

// debFileName is the Debian name of a package file, NAME_VERSION_ARCH.deb, with an epoch's
// colon written %3a as in the archive.
func debFileName(d *spec.PlanKernelDeb) string {
	return fmt.Sprintf("%s_%s_%s.deb", d.Package, strings.ReplaceAll(d.Version, ":", "%3a"), d.Architecture)
}

// copyWithSHA256 copies src to dst (mode 0644) and returns the sha256 of the bytes written.
func copyWithSHA256(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	if err := out.Chmod(0o644); err != nil { // whatever the umask
		out.Close()
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", err
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
