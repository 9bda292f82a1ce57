package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mantlet/mantlet/internal/build"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/pipeline"
	"github.com/mantlet/mantlet/internal/spec"
)

type buildOptions struct {
	image     string
	profile   string
	formats   string
	output    string
	json      bool
	cacheDir  string
	firstboot string
	mode      string
	keepWork  bool
}

func newBuildCmd() *cobra.Command {
	o := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Bake a bootable, read-only, verity-protected image from an image definition and a profile",
		Long: `Bake a bootable, read-only, verity-protected node image.

The image definition and the profile are validated as a whole before any work starts. The
outputs (OUT/NAME.raw, .qcow2, ..., OUT/NAME.efi and OUT/NAME.manifest.json) appear only when
the build succeeded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBuild(cmd, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "images/node.yaml", "image definition")
	f.StringVar(&o.profile, "profile", "profiles/base.yaml", "role profile")
	f.StringVar(&o.formats, "format", "", "output formats, comma-separated: raw, qcow2, vmdk, vhd (default: the image definition's)")
	f.StringVarP(&o.output, "output", "o", "out", "output directory")
	f.BoolVar(&o.json, "json", false, "report progress as JSON lines on stdout (each with \"schema\": \""+buildJSONSchema+"\")")
	f.StringVar(&o.cacheDir, "cache-dir", "", "where downloaded packages are kept between builds (default $MANTLET_CACHE, /var/cache/mantlet as root)")
	f.StringVar(&o.firstboot, "firstboot", "", "the static mantlet-firstboot binary to bake in (default: next to this mantlet binary)")
	f.StringVar(&o.mode, "mode", "auto", "mmdebstrap mode: auto, root, unshare, fakeroot, fakechroot")
	f.BoolVar(&o.keepWork, "keep-work", false, "keep the work directory for debugging")
	return cmd
}

func runBuild(cmd *cobra.Command, o *buildOptions, stdout, stderr io.Writer) error {
	plan, warns, err := spec.NewPlan(o.image, o.profile, "/")
	for _, w := range warns {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	if o.formats != "" {
		if err := plan.SetFormats(o.formats); err != nil {
			return err // names --format and the entry
		}
	}
	if o.firstboot == "" {
		o.firstboot = defaultFirstboot()
	}
	opts := build.Options{
		OutDir: o.output, CacheDir: o.cacheDir, FirstbootBinary: o.firstboot, Mode: o.mode, KeepWork: o.keepWork,
		Runner: command.Exec{},
	}
	report := textReporter(stderr)
	if o.json {
		report = jsonReporter(stdout)
	}
	st, err := build.Build(cmd.Context(), plan, opts, report)
	if err != nil {
		return err
	}
	if o.json {
		return json.NewEncoder(stdout).Encode(map[string]any{"schema": buildJSONSchema, "event": "done", "manifest": build.ManifestPath(o.output, plan.Name), "outputs": st.Outputs, "root_hash": st.Verity.RootHash})
	}
	for _, out := range st.Outputs {
		fmt.Fprintf(stdout, "%s\t%d MiB\tsha256:%s\n", out.File, out.Size>>20, out.SHA256)
	}
	fmt.Fprintf(stdout, "%s\n", build.ManifestPath(o.output, plan.Name))
	return nil
}

// defaultFirstboot is mantlet-firstboot next to the running mantlet binary.
func defaultFirstboot() string {
	exe, err := os.Executable()
	if err != nil {
		return "mantlet-firstboot"
	}
	return filepath.Join(filepath.Dir(exe), "mantlet-firstboot")
}

func textReporter(w io.Writer) pipeline.Reporter {
	return func(e pipeline.Event) {
		prefix := fmt.Sprintf("[%d/%d] %-9s", e.Index, e.Total, e.Step)
		switch e.Status {
		case "started":
			fmt.Fprintf(w, "%s ...\n", prefix)
		case "finished":
			fmt.Fprintf(w, "%s done in %s\n", prefix, e.Elapsed.Round(100*time.Millisecond))
		case "failed":
			fmt.Fprintf(w, "%s FAILED after %s\n", prefix, e.Elapsed.Round(100*time.Millisecond))
		}
	}
}

// buildJSONSchema is in every line of build --json: the layout of its events.
const buildJSONSchema = "mantlet.build/v1"

func jsonReporter(w io.Writer) pipeline.Reporter {
	enc := json.NewEncoder(w)
	return func(e pipeline.Event) {
		ev := map[string]any{"schema": buildJSONSchema, "event": "step", "step": e.Step, "index": e.Index, "total": e.Total, "status": e.Status}
		if e.Status != "started" {
			ev["seconds"] = e.Elapsed.Seconds()
		}
		if e.Err != "" {
			ev["error"] = strings.TrimSpace(e.Err)
		}
		_ = enc.Encode(ev)
	}
}
