package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mantlet/mantlet/firstboot"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/fsutil"
	"github.com/mantlet/mantlet/internal/qemu"
)

// Some rules cannot be judged on a tree at rest: whether a unit is enabled and running, which
// file systems are mounted with which options, root's PATH, the machine's users after first
// boot. The booted scan judges every rule on the running machine: the image boots in QEMU with
// an Ignition config that adds one administrator (the way every node gets its administrators),
// this machine's OpenSCAP is carried in over SSH onto a tmpfs, and the same benchmarks run
// there, online.

// bootUser is the administrator the audit's Ignition config creates.
const bootUser = "audit"

// bootDir is where the scanner is unpacked in the machine: a tmpfs of its own, because /run
// and /tmp are noexec and the root is read-only.
const bootDir = "/run/mantlet-audit"

// fileWalks are the rules that walk every file of every local file system: under TCG each
// walk of a booted image takes one to three minutes, together most of a booted scan. They
// judge what the image holds, which the offline scan judges too, and what the running machine
// made since (under /var); BootOptions.SkipWalks leaves them to the offline scan.
var fileWalks = []string{
	"xccdf_org.ssgproject.content_rule_file_permissions_ungroupowned",
	"xccdf_org.ssgproject.content_rule_no_files_unowned_by_user",
	"xccdf_org.ssgproject.content_rule_file_permissions_unauthorized_world_writable",
}

// BootOptions tune the booted scan.
type BootOptions struct {
	// SkipWalks leaves the rules that walk every file (fileWalks) out of the booted scan;
	// their offline results count.
	SkipWalks bool
	// Timeout bounds the whole booted scan: boot, upload, benchmarks; 0: 45 minutes.
	Timeout time.Duration
	// Accel is the QEMU accelerator ("" or auto: KVM when usable, else TCG).
	Accel qemu.Accel
	// ConsoleLog receives the machine's serial console.
	ConsoleLog string
}

// bootIgnition is an Ignition config that adds the audit's administrator with key.
func bootIgnition(authorizedKey string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"passwd": map[string]any{"users": []any{map[string]any{
			"name": bootUser, "groups": []string{"sudo"}, "sshAuthorizedKeys": []string{authorizedKey},
		}}},
	})
}

// scanBooted boots image, runs the benchmarks in it and returns their results by name; the
// raw XCCDF results are written to reportDir as NAME-booted-results.xml.
func scanBooted(ctx context.Context, r command.Runner, image, datastream, work, reportDir string, benchmarks []Benchmark, o BootOptions, w io.Writer) (map[string]*Results, error) {
	if o.Timeout == 0 {
		o.Timeout = 45 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	bundle, err := buildScanner(ctx, r, datastream, work)
	if err != nil {
		return nil, err
	}
	signer, authorized, err := qemu.NewKeyPair("mantlet-audit")
	if err != nil {
		return nil, err
	}
	ign, err := bootIgnition(authorized)
	if err != nil {
		return nil, err
	}
	ignPath := filepath.Join(work, "audit.ign")
	if err := os.WriteFile(ignPath, ign, 0o600); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "booting %s to scan the running machine ...\n", image)
	start := time.Now()
	m, err := qemu.Start(ctx, qemu.Options{
		Image: image, Ignition: ignPath, Accel: o.Accel, MemoryMiB: 2048,
		ConsoleLog: o.ConsoleLog, TempDir: work, Runner: r,
	})
	if err != nil {
		return nil, fmt.Errorf("boot the image: %w", err)
	}
	defer m.Stop()
	if err := m.WaitFor(ctx, firstboot.BootedMarker, 15*time.Minute); err != nil {
		return nil, fmt.Errorf("boot the image: %w (console: %s)", err, o.ConsoleLog)
	}
	if !strings.Contains(m.Console(), "mantlet-firstboot: done") {
		return nil, fmt.Errorf("boot the image: first boot did not finish (console: %s)", o.ConsoleLog)
	}
	fps := qemu.HostKeyFingerprints(m.Console())
	c, err := qemu.DialSSH(ctx, m.SSHPort(), bootUser, signer, fps, 5*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("boot the image: %w", err)
	}
	defer c.Close()
	fmt.Fprintf(w, "  running after %s (%s); uploading the scanner\n", time.Since(start).Round(time.Second), m.Accel())

	f, err := os.Open(bundle)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	setup := fmt.Sprintf("sudo -n sh -ec 'mkdir -p %[1]s && mount -t tmpfs -o size=512m,mode=0700,nosuid,nodev mantlet-audit %[1]s && tar -C %[1]s -xzf -'", bootDir)
	if err := sshMust(c.RunInput(setup, f)); err != nil {
		return nil, fmt.Errorf("upload the scanner: %w", err)
	}

	var skip []string
	if o.SkipWalks {
		skip = fileWalks
		fmt.Fprintf(w, "  the booted scan skips the file system walks, judged offline: %s\n", strings.Join(shortRules(skip), ", "))
	}
	// The benchmarks run side by side, one SSH session each: the machine has two CPUs.
	results := make(map[string]*Results, len(benchmarks))
	errs := make([]error, len(benchmarks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, b := range benchmarks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			res, err := runBootedBenchmark(c, b, reportDir, skip)
			if err != nil {
				errs[i] = fmt.Errorf("%s in the booted machine: %w", b.Title, err)
				return
			}
			mu.Lock()
			results[b.Name] = res
			fmt.Fprintf(w, "  %s evaluated in the booted machine in %s\n", b.Title, time.Since(t0).Round(time.Second))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return results, nil
}

// runBootedBenchmark runs one benchmark over c and fetches its results.
func runBootedBenchmark(c *qemu.SSHClient, b Benchmark, reportDir string, skip []string) (*Results, error) {
	remote := bootDir + "/" + b.Name + "-results.xml"
	res, err := c.Run("sudo -n sh -c '" + scannerCommand(bootDir, b.Profile, remote, skip) + "'")
	if err != nil {
		return nil, err
	}
	// oscap exits 2 when a rule failed: an answer, read from the results.
	if res.Status != 0 && res.Status != 2 {
		log, _ := c.Run("sudo -n tail -n 20 " + remote + ".log")
		return nil, fmt.Errorf("oscap exited %d: %s", res.Status, strings.TrimSpace(string(log.Stdout)))
	}
	out, err := c.Run("sudo -n cat " + remote)
	if err := sshMust(out, err); err != nil {
		return nil, fmt.Errorf("fetch the results: %w", err)
	}
	local := filepath.Join(reportDir, b.Name+"-booted-results.xml")
	if err := fsutil.WriteFileAtomic(local, out.Stdout, 0o644); err != nil {
		return nil, err
	}
	return ParseResultsFile(local)
}

// sshMust turns a non-zero exit into an error that carries the command's stderr.
func sshMust(res qemu.RunResult, err error) error {
	if err != nil {
		return err
	}
	if res.Status != 0 {
		return fmt.Errorf("exit status %d: %s", res.Status, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

// shortRules are rule ids without the ComplianceAsCode prefix, for messages.
func shortRules(rules []string) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = strings.TrimPrefix(r, "xccdf_org.ssgproject.content_rule_")
	}
	return out
}
