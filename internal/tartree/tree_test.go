package tartree

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var epoch = time.Unix(1735689600, 0).UTC()

type member struct {
	name, link string
	typ        byte
	mode       int64
	uid, gid   int
	data       string
	xattr      string
}

// writeArchive writes members as GNU tar --format=pax would name them.
func writeArchive(t *testing.T, ms []member) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Typeflag: m.typ, Name: m.name, Linkname: m.link, Mode: m.mode, Uid: m.uid, Gid: m.gid,
			ModTime: epoch.Add(-time.Hour), Format: tar.FormatPAX}
		if m.typ == tar.TypeReg {
			h.Size = int64(len(m.data))
		}
		if m.xattr != "" {
			h.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": m.xattr}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if m.typ == tar.TypeReg {
			tw.Write([]byte(m.data))
		}
	}
	tw.Close()
	buf.Write(make([]byte, 10240-buf.Len()%10240)) // GNU tar pads to its record size
	p := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fixture() []member {
	return []member{
		{name: "./", typ: tar.TypeDir, mode: 0o755},
		{name: "./bin", typ: tar.TypeSymlink, link: "usr/bin", mode: 0o777},
		{name: "./etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "./etc/hostname", typ: tar.TypeReg, mode: 0o644, data: "build\n"},
		{name: "./etc/passwd", typ: tar.TypeReg, mode: 0o644, data: "root:x:0:0:root:/root:/bin/bash\n"},
		{name: "./etc/shadow", typ: tar.TypeReg, mode: 0o640, gid: 42, data: "root:*:20089:0:99999:7:::\n"},
		{name: "./home/", typ: tar.TypeDir, mode: 0o755},
		{name: "./home/user/", typ: tar.TypeDir, mode: 0o700, uid: 1000},
		{name: "./home/user/.profile", typ: tar.TypeReg, mode: 0o600, uid: 1000, data: "x"},
		{name: "./lib", typ: tar.TypeSymlink, link: "usr/lib", mode: 0o777},
		{name: "./usr/", typ: tar.TypeDir, mode: 0o755},
		{name: "./usr/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "./usr/bin/perl", typ: tar.TypeReg, mode: 0o755, data: "perl binary"},
		{name: "./usr/bin/perl5.36.0", typ: tar.TypeLink, link: "./usr/bin/perl"},
		{name: "./usr/bin/ping", typ: tar.TypeReg, mode: 0o755, data: "ping", xattr: "\x01\x00\x00\x02"},
		{name: "./usr/bin/sudo", typ: tar.TypeReg, mode: 0o4755, data: "sudo"},
		{name: "./usr/lib/", typ: tar.TypeDir, mode: 0o755},
		{name: "./usr/lib/systemd/", typ: tar.TypeDir, mode: 0o755},
		{name: "./usr/lib/systemd/system/", typ: tar.TypeDir, mode: 0o755},
		{name: "./usr/lib/systemd/system/ssh.service", typ: tar.TypeReg, mode: 0o644, data: "[Install]\nWantedBy=multi-user.target\n"},
		{name: "./var/", typ: tar.TypeDir, mode: 0o755},
		{name: "./var/log/", typ: tar.TypeDir, mode: 0o755},
		{name: "./var/log/apt/", typ: tar.TypeDir, mode: 0o755},
		{name: "./var/log/apt/history.log", typ: tar.TypeReg, mode: 0o644, data: "log"},
	}
}

func open(t *testing.T, file string) *Tree {
	t.Helper()
	tr, err := Open(file, epoch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func writeOut(t *testing.T, tr *Tree) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := tr.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo says %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

// listing reads an archive back: one line per member with what tar2sqfs would take from it.
func listing(t *testing.T, data []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		line := fmt.Sprintf("%c|%s|%s|%04o|%d:%d|%s|%s", h.Typeflag, h.Name, h.Linkname, h.Mode, h.Uid, h.Gid, body,
			h.PAXRecords["SCHILY.xattr.security.capability"])
		if !h.ModTime.Equal(epoch.Add(-time.Hour)) {
			line += "|new-mtime"
		}
		out = append(out, line)
	}
}

func TestUnchangedIsCopiedAsIs(t *testing.T) {
	file := writeArchive(t, fixture())
	in, _ := os.ReadFile(file)
	out := writeOut(t, open(t, file))
	// The entries byte for byte, then the two zero blocks that end an archive.
	end := bytes.LastIndex(in, []byte("log")) + 512
	end -= end % 512
	if !bytes.Equal(out[:len(out)-1024], in[:end]) {
		t.Fatal("an unedited tree is not copied byte for byte")
	}
	if !bytes.Equal(out[len(out)-1024:], make([]byte, 1024)) {
		t.Fatal("no end-of-archive blocks")
	}
}

func TestResolveFollowsSymlinksInsideTheTree(t *testing.T) {
	tr := open(t, writeArchive(t, fixture()))
	data, err := tr.ReadFile("/lib/systemd/system/ssh.service")
	if err != nil || !strings.Contains(string(data), "WantedBy") {
		t.Fatalf("through /lib: %q, %v", data, err)
	}
	if data, err := tr.ReadFile("/bin/perl5.36.0"); err != nil || string(data) != "perl binary" {
		t.Fatalf("hard link through /bin: %q, %v", data, err)
	}
	if i, err := tr.Lstat("/lib"); err != nil || !i.IsSymlink() || i.Linkname != "usr/lib" {
		t.Fatalf("lstat /lib: %+v, %v", i, err)
	}
	if i, err := tr.Stat("/lib"); err != nil || !i.IsDir() || i.Path != "/usr/lib" {
		t.Fatalf("stat /lib: %+v, %v", i, err)
	}
	if _, err := tr.ReadFile("/etc/nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := tr.ReadFile("/etc/passwd/x"); err == nil {
		t.Fatal("a file is not a directory")
	}
}

func TestResolveStopsAtLoops(t *testing.T) {
	ms := append(fixture(), member{name: "./loop", typ: tar.TypeSymlink, link: "/loop"})
	tr := open(t, writeArchive(t, ms))
	if _, err := tr.ReadFile("/loop"); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Fatalf("loop: %v", err)
	}
}

func TestEdits(t *testing.T) {
	tr := open(t, writeArchive(t, fixture()))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tr.WriteFile("/etc/motd", []byte("hello\n"), 0o644, Root))                            // new, in /etc
	must(tr.WriteFile("/etc/passwd", []byte("root:x:0:0::/root:/bin/sh\n"), 0o644, Root))      // replaced
	must(tr.WriteFile("/lib/systemd/system/a.service", []byte("[Unit]\n"), 0o644, Root))       // through /lib
	must(tr.WriteFile("/usr/lib/mantlet/agent", []byte("elf"), 0o755, Root))                   // new parent
	must(tr.Symlink("/usr/lib/systemd/system/ssh.service", "/etc/systemd/system/m.wants/ssh")) // new parents
	must(tr.RemoveAll("/home"))
	must(tr.MkdirAll("/var/home", 0o755, Root))
	must(tr.Symlink("var/home", "/home"))
	must(tr.Remove("/etc/hostname"))
	must(tr.SetOwner("/etc/motd", Owner{UID: 0, GID: 42}))
	must(tr.SetMode("/usr/bin/ping", 0o711))
	must(tr.WriteFile("/usr/bin/perl", []byte("new perl"), 0o755, Root)) // its hard link keeps the old file
	walked := 0
	must(tr.Walk("/var/log", func(i Info) error {
		walked++
		if i.Type == tar.TypeReg {
			return tr.Remove(i.Path)
		}
		return nil
	}))
	if walked != 3 {
		t.Errorf("walked %d entries under /var/log, want 3", walked)
	}
	if err := tr.Remove("/usr/lib"); err == nil {
		t.Error("removed a directory that is not empty")
	}
	if err := tr.WriteFile("/etc", nil, 0o644, Root); err == nil {
		t.Error("replaced a directory by a file")
	}

	got := listing(t, writeOut(t, tr))
	want := []string{
		"5|./||0755|0:0|||new-mtime", // /home changed
		"2|./bin|usr/bin|0777|0:0||",
		"5|./etc/||0755|0:0|||new-mtime",
		"0|./etc/motd||0644|0:42|hello\n||new-mtime",
		"0|./etc/passwd||0644|0:0|root:x:0:0::/root:/bin/sh\n||new-mtime",
		"0|./etc/shadow||0640|0:42|root:*:20089:0:99999:7:::\n|",
		"5|./etc/systemd/||0755|0:0|||new-mtime",
		"5|./etc/systemd/system/||0755|0:0|||new-mtime",
		"5|./etc/systemd/system/m.wants/||0755|0:0|||new-mtime",
		"2|./etc/systemd/system/m.wants/ssh|/usr/lib/systemd/system/ssh.service|0777|0:0|||new-mtime",
		"2|./home|var/home|0777|0:0|||new-mtime",
		"2|./lib|usr/lib|0777|0:0||",
		"5|./usr/||0755|0:0||",
		"5|./usr/bin/||0755|0:0|||new-mtime",
		"0|./usr/bin/perl||0755|0:0|new perl||new-mtime",
		"0|./usr/bin/perl5.36.0||0755|0:0|perl binary|",
		"0|./usr/bin/ping||0711|0:0|ping|\x01\x00\x00\x02",
		"0|./usr/bin/sudo||4755|0:0|sudo|",
		"5|./usr/lib/||0755|0:0|||new-mtime",
		"5|./usr/lib/mantlet/||0755|0:0|||new-mtime",
		"0|./usr/lib/mantlet/agent||0755|0:0|elf||new-mtime",
		"5|./usr/lib/systemd/||0755|0:0||",
		"5|./usr/lib/systemd/system/||0755|0:0|||new-mtime",
		"0|./usr/lib/systemd/system/a.service||0644|0:0|[Unit]\n||new-mtime",
		"0|./usr/lib/systemd/system/ssh.service||0644|0:0|[Install]\nWantedBy=multi-user.target\n|",
		"5|./var/||0755|0:0|||new-mtime",
		"5|./var/home/||0755|0:0|||new-mtime",
		"5|./var/log/||0755|0:0||",
		"5|./var/log/apt/||0755|0:0|||new-mtime",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("edited archive:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSameEditsSameBytes(t *testing.T) {
	file := writeArchive(t, fixture())
	var outs [][]byte
	for range 2 {
		tr := open(t, file)
		tr.WriteFile("/etc/b", []byte("b"), 0o644, Root)
		tr.WriteFile("/etc/a", []byte("a"), 0o644, Root)
		tr.RemoveAll("/var/log")
		outs = append(outs, writeOut(t, tr))
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("the same edits gave different archives")
	}
}

func TestHardLinkTargetRemoved(t *testing.T) {
	ms := append(fixture(), member{name: "./usr/bin/perl.2", typ: tar.TypeLink, link: "./usr/bin/perl"})
	sort.SliceStable(ms, func(i, j int) bool { return Less(Clean(ms[i].name), Clean(ms[j].name)) })
	tr := open(t, writeArchive(t, ms))
	if err := tr.Remove("/usr/bin/perl"); err != nil {
		t.Fatal(err)
	}
	out := writeOut(t, tr)
	dir := t.TempDir()
	extract(t, out, dir)
	for _, n := range []string{"perl.2", "perl5.36.0"} {
		if b, err := os.ReadFile(filepath.Join(dir, "usr/bin", n)); err != nil || string(b) != "perl binary" {
			t.Errorf("%s: %q, %v", n, b, err)
		}
	}
	a, _ := os.Stat(filepath.Join(dir, "usr/bin/perl.2"))
	b, _ := os.Stat(filepath.Join(dir, "usr/bin/perl5.36.0"))
	if !os.SameFile(a, b) {
		t.Error("the remaining names are not one file")
	}
}

// extract unpacks with GNU tar, the real consumer's way of reading an archive.
func extract(t *testing.T, data []byte, dir string) {
	t.Helper()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar not installed")
	}
	cmd := exec.Command("tar", "-x", "--numeric-owner", "-C", dir)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GNU tar refuses the archive: %v: %s", err, out)
	}
}

// TestGNUTarArchive edits an archive that GNU tar made the way mmdebstrap makes its tarball
// (sorted, pax, numeric owners, clamped times) and has GNU tar read the result.
func TestGNUTarArchive(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar not installed")
	}
	src := t.TempDir()
	for p, data := range map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "usr/lib/x/y": "y", "var/log/z.log": "z"} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(src, p), []byte(data), 0o644)
	}
	os.Symlink("usr/lib", filepath.Join(src, "lib"))
	long := "usr/lib/" + strings.Repeat("long-name-", 12)
	os.MkdirAll(filepath.Join(src, long), 0o755)
	os.WriteFile(filepath.Join(src, long, "f"), []byte("deep"), 0o644)
	file := filepath.Join(t.TempDir(), "gnu.tar")
	cmd := exec.Command("tar", "--sort=name", "--mtime=@1735689600", "--clamp-mtime", "--numeric-owner", "--format=pax",
		"--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime", "-C", src, "-cf", file, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	tr := open(t, file)
	if b, err := tr.ReadFile("/lib/" + strings.TrimPrefix(long, "usr/lib/") + "/f"); err != nil || string(b) != "deep" {
		t.Fatalf("long name: %q, %v", b, err)
	}
	tr.WriteFile("/lib/x/new", []byte("new"), 0o600, Owner{UID: 7, GID: 8})
	tr.RemoveAll("/var/log")
	dir := t.TempDir()
	extract(t, writeOut(t, tr), dir)
	if b, err := os.ReadFile(filepath.Join(dir, "usr/lib/x/new")); err != nil || string(b) != "new" {
		t.Fatalf("new file: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, long, "f")); err != nil || string(b) != "deep" {
		t.Fatalf("long name after the edit: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "var/log")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("/var/log is still there: %v", err)
	}
}

func TestLess(t *testing.T) {
	sorted := []string{"", "bin", "etc", "etc/a", "etc/a/b", "etc/a-b", "etc/b", "usr", "usr/lib"}
	for i := range sorted {
		for j := range sorted {
			if got := Less(sorted[i], sorted[j]); got != (i < j) {
				t.Errorf("Less(%q, %q) = %v", sorted[i], sorted[j], got)
			}
		}
	}
}
