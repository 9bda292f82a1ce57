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
	image        string
	profile      string
	formats      string
	output       string
	json         bool
	cacheDir     string
	cacheMaxSize string
	noCache      bool
	sequential   bool
	firstboot    string
	mode         string
	keepWork     bool
}

func newBuildCmd() *cobra.Command {
	o := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Bake a bootable, read-only, verity-protected image from an image definition and a profile",
		Long: `Bake a bootable, read-only, verity-protected node image.

The image definition and the profile are validated as a whole before any work starts. The
outputs (OUT/NAME.raw with its block map NAME.raw.bmap, .qcow2, ..., OUT/NAME.efi and
OUT/NAME.manifest.json) appear only when the build succeeded.

The root tree is a package layer (what mmdebstrap installs: the packages at the versions the
sources offer now) with the configuration on top. The layer is kept in the cache directory,
keyed by everything that can change it, the resolved package versions included: a rebuild
after a change to the profile's files, users or units takes it from there ("rootfs cached").
When the output directory already has the outputs of the same inputs, checked against its
manifest, the build says so and stops.`,
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
	f.StringVar(&o.cacheDir, "cache-dir", "", "where packages, package lists and package layers are kept between builds (default $MANTLET_CACHE, /var/cache/mantlet as root)")
	f.StringVar(&o.cacheMaxSize, "cache-max-size", "", "size limit of the package layers in the cache, least recently used go first (default $MANTLET_CACHE_MAX_SIZE, 10GiB)")
	f.BoolVar(&o.noCache, "no-cache", false, "build the package layer afresh (and store it) and every output, even when the cache or the output directory has them")
	f.BoolVar(&o.sequential, "sequential", false, "run one after the other the steps that would run at the same time (to measure them)")
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
	maxSize, err := cacheMaxSize(o.cacheMaxSize)
	if err != nil {
		return err
	}
	opts := build.Options{
		OutDir: o.output, CacheDir: o.cacheDir, CacheMaxSize: maxSize, NoCache: o.noCache, Sequential: o.sequential,
		FirstbootBinary: o.firstboot, Mode: o.mode, KeepWork: o.keepWork, Runner: command.Exec{},
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
		return json.NewEncoder(stdout).Encode(map[string]any{"schema": buildJSONSchema, "event": "done", "manifest": build.ManifestPath(o.output, plan.Name),
			"outputs": st.Outputs, "root_hash": st.Verity.RootHash, "up_to_date": st.UpToDate, "package_layer": st.LayerKey})
	}
	for _, out := range st.Outputs {
		if out.Bmap != "" {
			fmt.Fprintf(stdout, "%s\t%d MiB\tbmap:%s sha256:%s\n", out.File, out.Size>>20, out.Bmap, out.BmapSHA256)
			continue
		}
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

// cacheMaxSize reads --cache-max-size, or $MANTLET_CACHE_MAX_SIZE; 0 is the default.
func cacheMaxSize(flag string) (int64, error) {
	name, v := "--cache-max-size", flag
	if v == "" {
		name, v = "MANTLET_CACHE_MAX_SIZE", os.Getenv("MANTLET_CACHE_MAX_SIZE")
	}
	if v == "" {
		return 0, nil
	}
	n, err := spec.ParseSize(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q: not a size (write it like 20GiB or 512MiB)", name, v)
	}
	return n, nil
}

// shortKey is the first 12 digits of a key, as the step line shows it.
func shortKey(k string) string {
	if len(k) > 12 {
		return k[:12]
	}
	return k
}

func textReporter(w io.Writer) pipeline.Reporter {
	return func(e pipeline.Event) {
		prefix := fmt.Sprintf("[%d/%d] %-9s", e.Index, e.Total, e.Step)
		took := e.Elapsed.Round(100 * time.Millisecond)
		switch e.Status {
		case "started":
			fmt.Fprintf(w, "%s ...\n", prefix)
		case "finished":
			var about []string
			if e.Key != "" {
				about = append(about, "key "+shortKey(e.Key))
			}
			if e.Note != "" {
				about = append(about, e.Note)
			}
			extra := ""
			if len(about) > 0 {
				extra = " (" + strings.Join(about, ", ") + ")"
			}
			if e.Cached {
				fmt.Fprintf(w, "%s cached%s in %s\n", prefix, extra, took)
			} else {
				fmt.Fprintf(w, "%s done in %s%s\n", prefix, took, extra)
			}
		case "failed":
			fmt.Fprintf(w, "%s FAILED after %s\n", prefix, took)
		case "skipped":
			fmt.Fprintf(w, "%s skipped\n", prefix)
		}
	}
}

// buildJSONSchema is in every line of build --json: the layout of its events.
const buildJSONSchema = "mantlet.build/v1"

func jsonReporter(w io.Writer) pipeline.Reporter {
	enc := json.NewEncoder(w)
	return func(e pipeline.Event) {
		ev := map[string]any{"schema": buildJSONSchema, "event": "step", "step": e.Step, "index": e.Index, "total": e.Total, "status": e.Status}
		if e.Status == "finished" || e.Status == "failed" {
			ev["seconds"] = e.Elapsed.Seconds()
		}
		if e.Status == "finished" {
			ev["cached"] = e.Cached
		}
		if e.Key != "" {
			ev["key"] = e.Key
		}
		if e.Note != "" {
			ev["note"] = e.Note
		}
		if e.Err != "" {
			ev["error"] = strings.TrimSpace(e.Err)
		}
		_ = enc.Encode(ev)
	}
}
