package build

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mantlet/mantlet/internal/spec"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testPlan is a small plan as spec would expand it.
func testPlan() *spec.Plan {
	return &spec.Plan{
		Name: "node", Release: "bookworm", Architecture: "amd64", SourceDateEpoch: 1735689600,
		Sources: []spec.Source{
			{URI: "http://mirror.example/debian", Suite: "bookworm", Components: []string{"main"}},
			{URI: "http://mirror.example/debian-security", Suite: "bookworm-security", Components: []string{"main"}},
		},
		KernelPackage: "linux-image-amd64", Cmdline: []string{"console=ttyS0,115200n8", "panic=30"},
		InitrdModules: []string{"virtio_blk", "dm-verity"},
		Packages:      []string{"linux-image-amd64", "openssh-server", "systemd"},
		RootFSType:    "squashfs", Compression: "zstd",
		Exclude: []string{"/usr/share/doc/*"}, Include: []string{"/usr/share/doc/*/copyright"},
		ESPSize: 128 << 20, RootSize: 1 << 30, VeritySize: 16 << 20, StateMinSize: 512 << 20,
		Formats: []string{"raw", "qcow2"},
		Files: []spec.PlanFile{
			{Path: "/etc/motd", Mode: 0o644, Owner: "root:root", Data: []byte("hi\n")},
			{Path: "/usr/local/bin/it's", Mode: 0o755, Owner: "root:staff", Data: []byte("#!/bin/sh\n")},
		},
		Enable: []string{"ssh.service", "systemd-networkd.service"},
		Mask:   []string{"getty@tty1.service"},
		Docker: &spec.PlanDocker{UsernsRemap: true, ContainersMemoryMax: "4G", LogMaxSize: 10 << 20, LogMaxFiles: 3},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}
