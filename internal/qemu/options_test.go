package qemu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "4096", want: 4096},
		{in: "512K", want: 512 << 10},
		{in: "64M", want: 64 << 20},
		{in: "64MiB", want: 64 << 20},
		{in: "8G", want: 8 << 30},
		{in: "8GiB", want: 8 << 30},
		{in: "8g", want: 8 << 30},
		{in: "1T", want: 1 << 40},
		{in: " 2G ", want: 2 << 30},
		{in: "", wantErr: true},
		{in: "G", wantErr: true},
		{in: "-1G", wantErr: true},
		{in: "1.5G", wantErr: true},
		{in: "10X", wantErr: true},
		{in: "99999999999T", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseAccel(t *testing.T) {
	for _, s := range []string{"auto", "kvm", "tcg"} {
		if a, err := ParseAccel(s); err != nil || string(a) != s {
			t.Errorf("ParseAccel(%q) = %q, %v", s, a, err)
		}
	}
	if _, err := ParseAccel("hvf"); err == nil {
		t.Error("ParseAccel(hvf) succeeded")
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	err := Options{
		Image: filepath.Join(dir, "missing.qcow2"), Ignition: dir, Accel: "xen",
		MemoryMiB: -1, CPUs: -2, SSHPort: 70000, DiskSize: 1, Persist: true,
	}.Validate()
	if err == nil {
		t.Fatal("Validate succeeded")
	}
	for _, want := range []string{"image:", "ignition:", "not a regular file", "accel:", "memory:", "cpus:", "ssh port:", "disk size:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestValidateAcceptsMinimalOptions(t *testing.T) {
	image := filepath.Join(t.TempDir(), "node.qcow2")
	if err := os.WriteFile(image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (Options{Image: image}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestWithDefaults(t *testing.T) {
	t.Setenv(AccelEnv, "")
	o := Options{}.withDefaults()
	if o.MemoryMiB != 1536 || o.CPUs != 2 || o.Accel != AccelAuto || o.Binary != "qemu-system-x86_64" || o.Runner == nil || o.Log == nil {
		t.Errorf("withDefaults = %+v", o)
	}
	t.Setenv(AccelEnv, "tcg")
	if a := (Options{}).withDefaults().Accel; a != AccelTCG {
		t.Errorf("with %s=tcg: accel %s", AccelEnv, a)
	}
	if a := (Options{Accel: AccelKVM}).withDefaults().Accel; a != AccelKVM {
		t.Errorf("explicit kvm with %s=tcg: accel %s", AccelEnv, a)
	}
}
