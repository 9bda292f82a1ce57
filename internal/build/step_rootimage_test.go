package build

import (
	"archive/tar"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/command"
)

func TestTar2sqfsArgs(t *testing.T) {
	p := testPlan()
	want := []string{"--quiet", "--no-skip", "--force", "--compressor", "zstd", "--comp-extra", "level=9", "--num-jobs", "2",
		"--defaults", "uid=0,gid=0,mode=0755,mtime=1735689600", "/w/root.squashfs"}
	if got := tar2sqfsArgs(p, 2, "/w/root.squashfs"); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	p.Compression = "xz"
	got := tar2sqfsArgs(p, 0, "/o")
	if got[4] != "xz" || got[5] != "--num-jobs" || got[6] != "1" {
		t.Fatalf("xz, no level, at least one job: %q", got)
	}
}

// TestRootImageRefusesUnreadableRecords packs, with the real tar2sqfs, a tarball with a
// record of a type it cannot read: the step must fail, naming the record, not make an
// image without the file.
func TestRootImageRefusesUnreadableRecords(t *testing.T) {
	if _, err := exec.LookPath("tar2sqfs"); err != nil {
		t.Skip("tar2sqfs not installed (Debian package squashfs-tools-ng; make deps)")
	}
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "root.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
	tw.Write([]byte("root\n"))
	tw.WriteHeader(&tar.Header{Name: "etc/unreadable", Typeflag: 'Z', Mode: 0o644, Size: 3})
	tw.Write([]byte("abc"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	st := &State{Plan: testPlan(), Opts: Options{Runner: command.Exec{}}, WorkDir: dir, RootTar: tarPath}
	err = (&stepRootImage{}).Run(context.Background(), st)
	if err == nil || !strings.Contains(err.Error(), "etc/unreadable") {
		t.Fatalf("err = %v, want a failure naming etc/unreadable", err)
	}
}
