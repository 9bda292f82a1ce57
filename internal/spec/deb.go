package spec

import (
	"bufio"
	"bytes"
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

// ReadDeb reads the control fields and the file list of the Debian package at path with
// dpkg-deb. ErrNotDeb is wrapped when the file is not a Debian package.
func ReadDeb(path string) (*DebPackage, error) {
	ctx := context.Background()
	fields, err := debRunner.Run(ctx, command.Cmd{Name: "dpkg-deb", Args: []string{"--field", path, "Package", "Version", "Architecture"}})
	if err != nil {
		return nil, debError(err)
	}
	f := parseControl(fields)
	d := &DebPackage{Package: f["Package"], Version: f["Version"], Architecture: f["Architecture"]}
	if d.Package == "" || d.Version == "" || d.Architecture == "" {
		return nil, fmt.Errorf("%w: the control file lacks Package, Version or Architecture", ErrNotDeb)
	}
	list, err := debRunner.Run(ctx, command.Cmd{Name: "dpkg-deb", Args: []string{"--contents", path}})
	if err != nil {
		return nil, debError(err)
	}
	d.Kernels = debKernels(list)
	return d, nil
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

// parseControl reads "Field: value" lines (continuation lines, which start with a space,
// are joined to their field). Fields are case-insensitive in Debian: keys are returned as
// dpkg writes them, the first letter of each word upper-case.
func parseControl(data []byte) map[string]string {
	m := map[string]string{}
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" {
				m[last] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			last = ""
			continue
		}
		last = canonicalField(strings.TrimSpace(k))
		m[last] = strings.TrimSpace(v)
	}
	return m
}

func canonicalField(k string) string {
	parts := strings.Split(strings.ToLower(k), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// debKernels finds the kernels in a dpkg-deb --contents listing (tar -tv lines, the path
// last): regular files ./boot/vmlinuz-RELEASE.
func debKernels(list []byte) []string {
	var ks []string
	sc := bufio.NewScanner(bytes.NewReader(list))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasPrefix(f[0], "-") {
			continue // directories, symbolic links and anything unexpected
		}
		if rel, ok := strings.CutPrefix(f[len(f)-1], "./boot/vmlinuz-"); ok && rel != "" && !strings.Contains(rel, "/") {
			ks = append(ks, rel)
		}
	}
	return ks
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
