package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/mantlet/mantlet/internal/creds"
	"github.com/mantlet/mantlet/internal/pki"
	"github.com/mantlet/mantlet/internal/qemu"
	"github.com/mantlet/mantlet/internal/spec"
)

// fileFlags are the flags that name a file, with the extensions to offer (none: any file).
var fileFlags = map[string][]string{
	"image": {"yaml", "yml"}, "profile": {"yaml", "yml"}, "firstboot": nil, "identity": nil,
	"merge": {"ign", "json", "bu", "yaml", "yml"}, "datastream": {"xml", "gz"}, "ignition": {"ign", "json"},
}

// dirFlags are the flags that name a directory.
var dirFlags = map[string]bool{"dir": true, "cache-dir": true, "report-dir": true}

// values are the flags with a fixed set of values.
func values() map[string][]string {
	kinds := make([]string, len(creds.Kinds))
	for i, k := range creds.Kinds {
		kinds[i] = string(k)
	}
	keyTypes := make([]string, len(pki.KeyTypes))
	for i, k := range pki.KeyTypes {
		keyTypes[i] = string(k)
	}
	return map[string][]string{
		"format":   spec.Formats,
		"role":     creds.Roles,
		"key-type": keyTypes,
		"mode":     {"auto", "root", "unshare", "fakeroot", "fakechroot"},
		"accel":    {string(qemu.AccelAuto), string(qemu.AccelKVM), string(qemu.AccelTCG)},
	}
}

// addCompletion registers what the shell completion offers for the flags of cmd and every
// command below it: the values of flags with a fixed set (formats, roles, key types...),
// a comma-separated list for --format, file names (with their extensions) for file flags,
// directories for directory flags, and the build's output directory for build -o.
func addCompletion(root *cobra.Command) {
	vals := values()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		f := c.Flags()
		for name, vs := range vals {
			if f.Lookup(name) == nil {
				continue
			}
			vs, list := vs, name == "format"
			_ = c.RegisterFlagCompletionFunc(name, func(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
				if !list {
					return vs, cobra.ShellCompDirectiveNoFileComp
				}
				// --format raw,q<TAB>: complete the last entry of the list
				done, _ := cutLast(typed)
				var out []string
				for _, v := range vs {
					out = append(out, done+v)
				}
				return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
			})
		}
		for name, exts := range fileFlags {
			if f.Lookup(name) != nil {
				_ = c.MarkFlagFilename(name, exts...)
			}
		}
		for name := range dirFlags {
			if f.Lookup(name) != nil {
				_ = c.MarkFlagDirname(name)
			}
		}
		if f.Lookup("output") != nil {
			if c.Name() == "build" {
				_ = c.MarkFlagDirname("output")
			} else {
				_ = c.MarkFlagFilename("output")
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// cutLast splits "a,b,c" into "a,b," and "c".
func cutLast(list string) (done, last string) {
	i := strings.LastIndexByte(list, ',')
	return list[:i+1], list[i+1:]
}
