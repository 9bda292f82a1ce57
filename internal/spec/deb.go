package spec

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
)

// DebPackage is what a .deb file says of itself: its control fields and the kernels it ships.
type DebPackage struct {
	Package      string
	Version      string
	Architecture string
	// Kernels are the releases (uname -r) of the /boot/vmlinuz-* files in the package.
	Kernels []string
}

// debRunner runs dpkg-deb, which reads every compression a .deb may use. Its failures are
// validation results, reported as field errors with dpkg-deb's message: not logged again.
var debRunner command.Runner = command.Exec{Log: slog.New(slog.DiscardHandler)}

// ReadDeb reads the control fields (dpkg-deb --show) and the file tree (dpkg-deb
// --fsys-tarfile, read with archive/tar, not scraped from a listing meant for people) of
// the Debian package at path. ErrNotDeb is wrapped when the file is not a Debian package.
func ReadDeb(path string) (*DebPackage, error) {
	ctx := context.Background()
	fields, err := debRunner.Run(ctx, command.Cmd{Name: "dpkg-deb", Args: []string{"--show", "--showformat=${Package}\n${Version}\n${Architecture}\n", path}})
	if err != nil {
		return nil, debError(err)
	}
	f := strings.Split(string(fields), "\n")
	if len(f) < 3 || f[0] == "" || f[1] == "" || f[2] == "" {
		return nil, fmt.Errorf("%w: the control file lacks Package, Version or Architecture", ErrNotDeb)
	}
	d := &DebPackage{Package: f[0], Version: f[1], Architecture: f[2]}
	if d.Kernels, err = debKernels(ctx, path); err != nil {
		return nil, err
	}
	return d, nil
}

// debKernels finds the kernels a package ships: the regular files (hard links to one
// count) /boot/vmlinuz-RELEASE of its file tree.
func debKernels(ctx context.Context, path string) ([]string, error) {
	pr, pw := io.Pipe()
	var ks []string
	read := make(chan error, 1)
	go func() {
		var err error
		ks, err = kernelsInTar(pr)
		io.Copy(io.Discard, pr) // let dpkg-deb finish writing
		read <- err
	}()
	_, err := debRunner.Run(ctx, command.Cmd{Name: "dpkg-deb", Args: []string{"--fsys-tarfile", path}, Stdout: pw})
	pw.Close()
	rerr := <-read
	if err != nil {
		return nil, debError(err)
	}
	if rerr != nil {
		return nil, fmt.Errorf("%w: its file tree: %v", ErrNotDeb, rerr)
	}
	return ks, nil
}

// debError tells a file dpkg-deb refuses from a dpkg-deb that cannot run.
func debError(err error) error {
	var ce *command.Error
	if errors.As(err, &ce) {
		var ee *exec.ExitError
		if errors.As(ce.Err, &ee) {
			return fmt.Errorf("%w: %s", ErrNotDeb, strings.TrimPrefix(strings.TrimSpace(ce.Stderr), "dpkg-deb: error: "))
		}
		return fmt.Errorf("cannot run dpkg-deb (install dpkg): %w", ce.Err)
	}
	return err
}

// kernelsInTar lists the releases of the regular files (or hard links to one) named
// boot/vmlinuz-RELEASE in a tar stream of a package's file tree.
func kernelsInTar(r io.Reader) ([]string, error) {
	var ks []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return ks, nil
		}
		if err != nil {
			return ks, err
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeLink {
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "."), "/")
		if rel, ok := strings.CutPrefix(name, "boot/vmlinuz-"); ok && rel != "" && !strings.Contains(rel, "/") {
			ks = append(ks, rel)
		}
	}
}

// FileSHA256 is the hex sha256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
