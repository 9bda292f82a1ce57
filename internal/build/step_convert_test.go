package build

import (
	"reflect"
	"testing"
)

func TestQemuImgConvertArgs(t *testing.T) {
	cases := map[string][]string{
		"qcow2": {"convert", "-f", "raw", "-O", "qcow2", "-o", "compression_type=zlib", "/w/d.raw", "/w/out"},
		"vmdk":  {"convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", "/w/d.raw", "/w/out"},
		"vhd":   {"convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on", "/w/d.raw", "/w/out"},
	}
	for name, want := range cases {
		if got := qemuImgConvertArgs(formats[name], "/w/d.raw", "/w/out"); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %q", name, got)
		}
	}
}
