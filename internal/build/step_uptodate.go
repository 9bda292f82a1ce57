package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/mantlet/mantlet/internal/bmap"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/pipeline"
)

// stepUpToDate ends the build early when the output directory already holds the outputs of
// the same inputs: its manifest records their digest (Manifest.Inputs), and every output it
// lists is checked against it (sizes, sha256, the raw disk against its block map). Anything
// else, and --no-cache, builds.
type stepUpToDate struct{}

func (*stepUpToDate) Name() string { return "uptodate" }

func (*stepUpToDate) Run(_ context.Context, st *State) error {
	var err error
	if st.InputsDigest, err = inputsDigest(st); err != nil {
		return err
	}
	if st.Opts.NoCache {
		st.upToDateNote = "--no-cache"
		return nil
	}
	data, err := os.ReadFile(ManifestPath(st.Opts.OutDir, st.Plan.Name))
	if err != nil {
		st.upToDateNote = "no earlier outputs"
		return nil
	}
	var m Manifest
	if json.Unmarshal(data, &m) != nil || m.Inputs != st.InputsDigest {
		st.upToDateNote = "the outputs there are of other inputs"
		return nil
	}
	if err := VerifyOutputs(st.Opts.OutDir, &m); err != nil {
		st.upToDateNote = "outputs differ from their manifest (" + err.Error() + "): building"
		return nil
	}
	st.UpToDate = true
	st.Verity, st.Partitions, st.Packages, st.Cmdline = m.Verity, m.Partitions, m.Packages, m.Cmdline
	st.KernelVersion = m.Kernel.Version
	st.UKI = filepath.Join(st.Opts.OutDir, st.Plan.Name+".efi")
	st.Outputs = nil
	for _, o := range m.Outputs {
		o.File = filepath.Join(st.Opts.OutDir, o.File)
		st.Outputs = append(st.Outputs, o)
		if o.Bmap != "" {
			st.Bmap = filepath.Join(st.Opts.OutDir, o.Bmap)
		}
	}
	return pipeline.ErrStop
}

func (*stepUpToDate) Cleanup(*State) {}

func (*stepUpToDate) Outcome(st *State) pipeline.Outcome {
	o := pipeline.Outcome{Note: st.upToDateNote}
	if st.UpToDate {
		o.Cached, o.Key = true, st.InputsDigest
		o.Note = "up to date: the outputs in " + st.Opts.OutDir + " are of the same inputs and match their manifest"
	}
	return o
}

// inputsDigest is the sha256 of everything the outputs are made of besides the package
// layer's own inputs: the layer's key, the plan (but its audit section), the first-boot
// agent, this program, the EFI stub and the image tools.
func inputsDigest(st *State) (string, error) {
	plan := *st.Plan
	plan.Audit.Waivers = nil // what the audit reads, not what the image has
	files := map[string]string{"firstboot": st.Opts.FirstbootBinary, "stub": stubPath(st.Opts)}
	if exe, err := os.Executable(); err == nil {
		files["mantlet"] = exe
	}
	if _, ok := st.Opts.Runner.(command.Exec); ok {
		for _, tool := range []string{"tar2sqfs", "veritysetup", "objcopy", "qemu-img"} {
			if p, err := exec.LookPath(tool); err == nil {
				files[tool] = p
			}
		}
	}
	sums := map[string]string{}
	for name, p := range files {
		sum, _, err := fileSHA256(p)
		if err != nil {
			return "", fmt.Errorf("digest of %s: %w", p, err)
		}
		sums[name] = sum
	}
	data, err := json.Marshal(struct {
		Layer string
		Plan  any
		Files map[string]string
	}{st.LayerKey, plan, sums})
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:]), nil
}

// VerifyOutputs checks the outputs in dir against the manifest m: each file's size, its
// sha256 or, for a raw disk, its block map (and that map against its sha256), and the UKI.
// The files are checked at the same time.
func VerifyOutputs(dir string, m *Manifest) error {
	type check struct {
		file string
		fn   func(string) error
	}
	sha := func(want string, size int64) func(string) error {
		return func(p string) error {
			sum, n, err := fileSHA256(p)
			switch {
			case err != nil:
				return err
			case n != size || sum != want:
				return fmt.Errorf("%s: %d bytes, sha256 %s; the manifest says %d bytes, sha256 %s", p, n, sum, size, want)
			}
			return nil
		}
	}
	checks := []check{{m.Name + ".efi", sha(m.UKI.SHA256, m.UKI.Size)}}
	for _, o := range m.Outputs {
		switch {
		case o.Bmap != "":
			size := o.Size
			bm := filepath.Join(dir, o.Bmap)
			checks = append(checks, check{o.File, func(p string) error {
				data, err := os.ReadFile(bm)
				if err != nil {
					return err
				}
				if bytesSHA256(data) != o.BmapSHA256 {
					return fmt.Errorf("%s: not the block map of the manifest", bm)
				}
				if fi, err := os.Stat(p); err != nil || fi.Size() != size {
					return fmt.Errorf("%s: not %d bytes", p, size)
				}
				return bmap.Verify(p, data)
			}})
		case o.SHA256 != "":
			checks = append(checks, check{o.File, sha(o.SHA256, o.Size)})
		default:
			return fmt.Errorf("output %s: the manifest has no digest of it", o.File)
		}
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.fn(filepath.Join(dir, c.file))
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
