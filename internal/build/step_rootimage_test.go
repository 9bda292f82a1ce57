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
	"time"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/tartree"
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

// TestRootImageRefusesUnreadableRecords: a tarball with a record of a type nobody can read
// must fail the build, naming the record, not make an image without the file. The tree
// refuses it as it opens the layer (tar2sqfs --no-skip, in TestTar2sqfsArgs, is the second
// line).
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
	_, err = tartree.Open(tarPath, time.Unix(1735689600, 0))
	if err == nil || !strings.Contains(err.Error(), "etc/unreadable") {
		t.Fatalf("err = %v, want a failure naming etc/unreadable", err)
	}
}

// TestRootImageDropsOnlyWhatSquashfsCannotKeep: a POSIX ACL (system.posix_acl_default, as
// systemd's tmpfiles.d puts on /var/log/journal) would fail tar2sqfs --no-skip; mmtarfilter
// drops it, and file capabilities and user xattrs reach the image.
func TestRootImageDropsOnlyWhatSquashfsCannotKeep(t *testing.T) {
	for _, tool := range []string{"tar2sqfs", "mmtarfilter", "rdsquashfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps)", tool)
		}
	}
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "root.tar")
	f, _ := os.Create(tarPath)
	tw := tar.NewWriter(f)
	acl := "\x02\x00\x00\x00\x01\x00\x07\x00\xff\xff\xff\xff\x04\x00\x05\x00\xff\xff\xff\xff\x20\x00\x05\x00\xff\xff\xff\xff"
	tw.WriteHeader(&tar.Header{Name: "var/log/journal/", Typeflag: tar.TypeDir, Mode: 0o2755, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.system.posix_acl_default": acl}})
	tw.WriteHeader(&tar.Header{Name: "usr/bin/ping", Typeflag: tar.TypeReg, Mode: 0o755, Size: 4, Format: tar.FormatPAX,
		PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "SCHILY.xattr.user.mantlet": "kept"}})
	tw.Write([]byte("ping"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// The filter runs once, as the package layer is made; the tree streams the rest.
	if err := filterLayer(context.Background(), command.Exec{}, tarPath); err != nil {
		t.Fatal(err)
	}
	st := &State{Plan: testPlan(), Opts: Options{Runner: command.Exec{}, KeepWork: true}, WorkDir: dir, Tree: openTree(t, tarPath)}
	if err := (&stepRootImage{}).Run(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("rdsquashfs", "--xattr", "/usr/bin/ping", st.RootImage).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "security.capability") || !strings.Contains(string(out), "user.mantlet") {
		t.Errorf("xattrs of /usr/bin/ping: %v\n%s", err, out)
	}
	out, _ = exec.Command("rdsquashfs", "--xattr", "/var/log/journal", st.RootImage).CombinedOutput()
	if strings.Contains(string(out), "posix_acl") {
		t.Errorf("an ACL reached the image: %s", out)
	}
}

func openTree(t *testing.T, tarPath string) *tartree.Tree {
	t.Helper()
	tr, err := tartree.Open(tarPath, time.Unix(1735689600, 0))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestMmtarfilterArgs(t *testing.T) {
	if got := mmtarfilterArgs(); !reflect.DeepEqual(got, []string{"--pax-exclude=SCHILY.xattr.system.*"}) {
		t.Fatalf("got %q", got)
	}
}
