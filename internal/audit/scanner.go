package audit

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
)

// The scanner is this machine's own OpenSCAP, carried into the booted image: the oscap binary,
// the shared libraries it loads (with their dynamic loader, which runs it), the XSLT and CPE
// files it reads, and the data stream. The image itself has no scanner and gets none: the
// bundle is unpacked on a tmpfs of its own and gone when the machine stops.
const (
	scannerOscap   = "/usr/bin/oscap"
	scannerShare   = "/usr/share/openscap"
	scannerLoader  = "lib/ld-linux-x86-64.so.2"
	scannerDS      = "ds.xml"
	scannerArchive = "scanner.tar.gz"
)

// lddLine matches the libraries in ldd's output: "libx.so.1 => /lib/x/libx.so.1 (0x...)" and
// the loader's "/lib64/ld-linux-x86-64.so.2 (0x...)".
var lddLine = regexp.MustCompile(`^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$`)

// parseLdd returns the absolute paths of the libraries in ldd's output; a library ldd could
// not find is an error (the scanner would not start in the machine).
func parseLdd(out []byte) ([]string, error) {
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("ldd %s: %s", scannerOscap, strings.TrimSpace(line))
		}
		if m := lddLine.FindStringSubmatch(line); m != nil {
			libs = append(libs, m[1])
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s: no libraries in its output", scannerOscap)
	}
	sort.Strings(libs)
	return libs, nil
}

// buildScanner writes the scanner bundle, a tar.gz, into dir and returns its path.
func buildScanner(ctx context.Context, r command.Runner, datastream, dir string) (string, error) {
	out, err := r.Run(ctx, command.Cmd{Name: "ldd", Args: []string{scannerOscap}})
	if err != nil {
		return "", fmt.Errorf("scanner: %w", err)
	}
	libs, err := parseLdd(out)
	if err != nil {
		return "", fmt.Errorf("scanner: %w", err)
	}
	path := filepath.Join(dir, scannerArchive)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	add := func(name, src string, mode int64) error {
		data, err := os.ReadFile(src) // follows links: libraries are symlinks to their files
		if err != nil {
			return fmt.Errorf("scanner: %w", err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	}
	if err := add("bin/oscap", scannerOscap, 0o755); err != nil {
		return "", err
	}
	for _, l := range libs {
		name := "lib/" + filepath.Base(l)
		if strings.HasPrefix(filepath.Base(l), "ld-linux") {
			name = scannerLoader
		}
		if err := add(name, l, 0o755); err != nil {
			return "", err
		}
	}
	for _, sub := range []string{"xsl", "cpe"} {
		root := filepath.Join(scannerShare, sub)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(scannerShare, p)
			return add("share/"+rel, p, 0o644)
		})
		if err != nil {
			return "", fmt.Errorf("scanner: %w", err)
		}
	}
	if err := add(scannerDS, datastream, 0o644); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return path, f.Close()
}

// scannerCommand is the shell command, run as root in the machine, that evaluates profile
// with the bundle unpacked in dir, skipping the rules skip, and writes the results to results.
func scannerCommand(dir, profile, results string, skip []string) string {
	var skips strings.Builder
	for _, r := range skip {
		fmt.Fprintf(&skips, "--skip-rule %s ", r)
	}
	return fmt.Sprintf("env OSCAP_XSLT_PATH=%[1]s/share/xsl OSCAP_CPE_PATH=%[1]s/share/cpe LC_ALL=C "+
		"%[1]s/%[2]s --library-path %[1]s/lib %[1]s/bin/oscap xccdf eval --skip-validation "+
		"--profile %[3]s %[6]s--results %[4]s %[1]s/%[5]s >/dev/null 2>%[4]s.log",
		dir, scannerLoader, profile, results, scannerDS, skips.String())
}
