package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

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

// stepConvert writes every requested format next to the raw disk in the work directory
// (the manifest step renames them into place).
type stepConvert struct{}

func (*stepConvert) Name() string { return "convert" }

func (*stepConvert) Run(ctx context.Context, st *State) error {
	for _, name := range st.Plan.Formats {
		f := formats[name]
		out := filepath.Join(st.WorkDir, st.Plan.Name+"."+f.Ext)
		if f.Args == nil {
			if err := os.Rename(st.RawDisk, out); err != nil {
				return err
			}
			st.RawDisk = out
		} else if _, err := st.Opts.Runner.Run(ctx, command.Cmd{Name: "qemu-img", Args: qemuImgConvertArgs(f, st.RawDisk, out)}); err != nil {
			return fmt.Errorf("format %s: %w", name, err)
		}
		st.Outputs = append(st.Outputs, Output{Format: name, File: out})
	}
	return nil
}

func (*stepConvert) Cleanup(*State) {}

// qemuImgConvertArgs builds qemu-img's argument list. Pure: table-tested.
func qemuImgConvertArgs(f format, raw, out string) []string {
	args := []string{"convert", "-f", "raw"}
	args = append(args, f.Args...)
	return append(args, raw, out)
}
