package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/mantlet/mantlet/internal/audit"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/qemu"
	"github.com/mantlet/mantlet/internal/spec"
)

type auditOptions struct {
	image      string
	profile    string
	datastream string
	reportDir  string
	boot       bool
	skipWalks  bool
	accel      string
	json       bool
}

func newAuditCmd() *cobra.Command {
	o := &auditOptions{}
	cmd := &cobra.Command{
		Use:   "audit IMAGE.raw|ROOTDIR",
		Short: "Measure a built image against the CIS Debian 12 benchmarks and the project's component checks",
		Long: `Measure a built image (a raw disk: its root-x86-64 partition is unpacked) or a root directory.

OpenSCAP evaluates the CIS Level 1 and Level 2 server profiles of the data stream on a
read-only bind mount of the tree (root is needed for the mount); the HTML reports and XCCDF
results go to --report-dir. The profile's audit section gives the least scores and the waiver
files; every waiver applied is printed. The component checks (sshd -T of the image, the Docker
daemon, sudoers, key material, world-writable and unowned files) run on the tree too; sshd -T
runs the image's own sshd in a chroot with a throwaway host key under /run of the tree, so a root
directory must be writable (what the check writes there is removed again). The command fails
when a score is below its threshold, a rule that did not pass has no waiver, or a component
check fails. Waivers whose rule passes (stale) or does not apply (unused) are listed too.

Some rules cannot be judged on a tree at rest (unit state, mounts, root's PATH, the users of a
deployed node). With --boot (the default for a disk image) the image also boots in QEMU with an
Ignition config that adds one administrator, this machine's OpenSCAP is carried in over SSH onto
a tmpfs (the image gets no scanner), and the benchmarks run again in the running machine. A
rule's result is then the booted one wherever the booted scan could judge it; both scores are
printed, and rules that pass offline but not in the booted machine are named. Waivers marked
offline_only cover only offline results.`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAudit(cmd, o, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "images/node.yaml", "image definition the image was built from")
	f.StringVar(&o.profile, "profile", "profiles/base.yaml", "role profile: its audit section gives the thresholds and waivers")
	f.StringVar(&o.datastream, "datastream", "profiles/scap/ssg-debian12-ds.xml.gz", "SCAP source data stream (.xml or .xml.gz)")
	f.StringVar(&o.reportDir, "report-dir", "out/audit", "where the HTML reports and XCCDF results are written")
	f.BoolVar(&o.boot, "boot", true, "for a disk image, also boot it in QEMU and evaluate the benchmarks in the running machine")
	f.BoolVar(&o.skipWalks, "boot-skip-walks", false, "leave the three rules that walk every file (unowned, ungrouped, world-writable) to the offline scan: minutes each in a booted machine under TCG")
	f.StringVar(&o.accel, "accel", "auto", "QEMU accelerator of the booted scan: auto, kvm or tcg")
	f.BoolVar(&o.json, "json", false, "write the report as JSON (schema "+audit.JSONSchema+") on stdout; progress and the text report go to stderr")
	return cmd
}

func runAudit(cmd *cobra.Command, o *auditOptions, input string, stdout, stderr io.Writer) error {
	plan, warns, err := spec.NewPlan(o.image, o.profile, "/")
	for _, w := range warns {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	var files []string
	for _, wf := range plan.Audit.Waivers {
		files = append(files, wf.Path)
	}
	waivers, err := audit.LoadWaivers(files...)
	if err != nil {
		return err
	}
	accel, err := qemu.ParseAccel(o.accel)
	if err != nil {
		return fmt.Errorf("--accel: %w", err)
	}
	opts := audit.Options{
		Boot:        o.boot,
		BootOptions: audit.BootOptions{Accel: accel, SkipWalks: o.skipWalks},
		Input:       input,
		Datastream:  o.datastream,
		ReportDir:   o.reportDir,
		Min:         map[string]int{"cis-level1": plan.Audit.CISLevel1Min, "cis-level2": plan.Audit.CISLevel2Min},
		Waivers:     waivers,
		Docker:      dockerPolicy(plan.Docker),
		// oscap exits 2 whenever a rule fails, an answer the audit reads from the results:
		// only what runs at debug level is logged; real failures come back as errors.
		Runner: command.Exec{Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug + auditLogLevel(cmd)}))},
	}
	text := stdout
	if o.json {
		text = stderr
	}
	rep, err := audit.Run(cmd.Context(), opts, text)
	if o.json && rep != nil {
		if jerr := audit.WriteJSON(stdout, rep); jerr != nil && err == nil {
			err = jerr
		}
	}
	return err
}

// dockerPolicy is what the plan's docker section asks of the image's Docker daemon.
func dockerPolicy(d *spec.PlanDocker) audit.DockerPolicy {
	if d == nil {
		return audit.DockerPolicy{}
	}
	return audit.DockerPolicy{Configured: true, UsernsRemapOptOut: d.UsernsRemapOptOutReason, MemoryMax: d.ContainersMemoryMax}
}

// auditLogLevel is 0 (debug: every command) with --verbose, else above error: silent.
func auditLogLevel(cmd *cobra.Command) slog.Level {
	if f := cmd.Flags().Lookup("verbose"); f != nil && f.Value.String() == "true" {
		return 0
	}
	return slog.LevelError + 4 - slog.LevelDebug
}
