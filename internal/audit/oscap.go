package audit

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
)

// Benchmark is one XCCDF profile the tree is evaluated against.
type Benchmark struct {
	Name    string // short name, used for report files: cis-level1
	Title   string // shown in the output
	Profile string // XCCDF profile id
}

// CIS are the CIS Debian 12 server benchmarks of the ComplianceAsCode data stream.
var CIS = []Benchmark{
	{Name: "cis-level1", Title: "CIS Level 1 server", Profile: "xccdf_org.ssgproject.content_profile_cis_level1_server"},
	{Name: "cis-level2", Title: "CIS Level 2 server", Profile: "xccdf_org.ssgproject.content_profile_cis_level2_server"},
}

// scanEnv is the environment of the scanner: rules about root's PATH read the scanning
// process's own, which must be the image's, not this machine's.
var scanEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}

// oscapArgs evaluates profile of datastream against the tree at root with oscap-chroot.
func oscapArgs(root, profile, datastream, results, report string) []string {
	return []string{root, "xccdf", "eval", "--profile", profile, "--results", results, "--report", report, datastream}
}

// evaluate runs one benchmark; oscap exits 2 when a rule failed, which is an answer, not an
// error: the results file tells.
func evaluate(ctx context.Context, r command.Runner, root, datastream, results, report string, b Benchmark) error {
	_, err := r.Run(ctx, command.Cmd{Name: "oscap-chroot", Args: oscapArgs(root, b.Profile, datastream, results, report), Env: scanEnv})
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 2) {
		return fmt.Errorf("%s: %w", b.Title, err)
	}
	if _, statErr := os.Stat(results); statErr != nil {
		return fmt.Errorf("%s: oscap wrote no results: %w", b.Title, statErr)
	}
	return nil
}

// plainDatastream returns the data stream as an uncompressed file: path itself, or, for a
// .gz, its content unpacked into dir.
func plainDatastream(path, dir string) (string, error) {
	if !strings.HasSuffix(path, ".gz") {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("data stream: %w", err)
		}
		return path, nil
	}
	in, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("data stream: %w", err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return "", fmt.Errorf("data stream %s: %w", path, err)
	}
	dst := filepath.Join(dir, strings.TrimSuffix(filepath.Base(path), ".gz"))
	out, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, zr); err != nil {
		out.Close()
		return "", fmt.Errorf("data stream %s: %w", path, err)
	}
	return dst, out.Close()
}

// generateReport renders the HTML report of an XCCDF results file.
func generateReport(ctx context.Context, r command.Runner, results, html string) error {
	if _, err := r.Run(ctx, command.Cmd{Name: "oscap", Args: []string{"xccdf", "generate", "report", "--output", html, results}}); err != nil {
		return fmt.Errorf("report of %s: %w", results, err)
	}
	return nil
}
