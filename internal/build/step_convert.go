package build

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/mantlet/mantlet/internal/command"
)

// format is one output format: its file extension and how qemu-img writes it.
type format struct {
	Ext  string
	Args []string // qemu-img convert output options; nil for raw (copied as is)
}

// formats are the disk formats a build can write.
var formats = map[string]format{
	"raw":   {Ext: "raw"},
	"qcow2": {Ext: "qcow2", Args: []string{"-O", "qcow2", "-o", "compression_type=zlib"}},
	// VMware and AWS import: stream-optimized VMDK.
	"vmdk": {Ext: "vmdk", Args: []string{"-O", "vmdk", "-o", "subformat=streamOptimized"}},
	// Azure: a fixed-size VHD whose size is a whole number of MiB.
	"vhd": {Ext: "vhd", Args: []string{"-O", "vpc", "-o", "subformat=fixed,force_size=on"}},
}

func formatNames() string {
	names := make([]string, 0, len(formats))
	for n := range formats {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// stepConvert writes every requested format but raw (which the disk step wrote) next to the
// raw disk in the work directory, all at once, and digests each as soon as it is written (the
// manifest step renames them into place). The raw disk's digest is its block map (stepBmap).
type stepConvert struct{}

func (*stepConvert) Name() string { return "convert" }

func (*stepConvert) Run(ctx context.Context, st *State) error {
	outs := make([]Output, len(st.Plan.Formats))
	errs := make([]error, len(st.Plan.Formats))
	var wg sync.WaitGroup
	for i, name := range st.Plan.Formats {
		f := formats[name]
		outs[i] = Output{Format: name, File: filepath.Join(st.WorkDir, st.Plan.Name+"."+f.Ext)}
		if f.Args == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Opts.Runner.Run(ctx, command.Cmd{Name: "qemu-img", Args: qemuImgConvertArgs(f, st.RawDisk, outs[i].File)}); err != nil {
				errs[i] = fmt.Errorf("format %s: %w", name, err)
				return
			}
			a, err := artifact(outs[i].File)
			if err != nil {
				errs[i] = fmt.Errorf("format %s: %w", name, err)
			}
			outs[i].Size, outs[i].SHA256 = a.Size, a.SHA256
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	st.Outputs = outs
	return nil
}

func (*stepConvert) Cleanup(*State) {}

// qemuImgConvertArgs builds qemu-img's argument list. Pure: table-tested.
func qemuImgConvertArgs(f format, raw, out string) []string {
	args := []string{"convert", "-f", "raw"}
	args = append(args, f.Args...)
	return append(args, raw, out)
}
