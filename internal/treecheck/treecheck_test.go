package treecheck

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"strings"
	"testing"
)

type tarEntry struct {
	name     string
	mode     int64
	typ      byte
	uid, gid int
	body     string
}

func tarball(t *testing.T, entries []tarEntry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Uid: e.uid, Gid: e.gid, Size: int64(len(e.body))}
		if e.typ == tar.TypeSymlink {
			h.Linkname, h.Size = "target", 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

const (
	passwd = "root:x:0:0:root:/root:/bin/bash\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n"
	group  = "root:x:0:\nutmp:x:43:\nnogroup:x:65534:\n"
)

func TestCheckTar(t *testing.T) {
	buf := tarball(t, []tarEntry{
		{name: "./", mode: 0o755, typ: tar.TypeDir},
		{name: "./etc/", mode: 0o755, typ: tar.TypeDir},
		{name: "./etc/group", mode: 0o644, typ: tar.TypeReg, body: group},
		{name: "./etc/passwd", mode: 0o644, typ: tar.TypeReg, body: passwd},
		{name: "./tmp/", mode: 0o1777, typ: tar.TypeDir},                     // skipped tree, sticky anyway
		{name: "./tmp/x", mode: 0o666, typ: tar.TypeReg},                     // skipped tree
		{name: "./var/tmp/", mode: 0o1777, typ: tar.TypeDir},                 // sticky: fine
		{name: "./var/lib/shared/", mode: 0o777, typ: tar.TypeDir},           // world-writable dir
		{name: "./usr/bin/tool", mode: 0o4757, typ: tar.TypeReg},             // world-writable setuid file
		{name: "./usr/lib/link", mode: 0o777, typ: tar.TypeSymlink},          // links have no modes
		{name: "./var/log/wtmp", mode: 0o640, typ: tar.TypeReg, gid: 43},     // known group
		{name: "./opt/app", mode: 0o644, typ: tar.TypeReg, uid: 1234},        // unknown user
		{name: "./opt/data", mode: 0o644, typ: tar.TypeReg, uid: 42, gid: 7}, // unknown group
		{name: "./dev/null", mode: 0o666, typ: tar.TypeChar},                 // skipped tree
	})
	got, err := CheckTar(buf)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range got {
		lines = append(lines, f.String())
	}
	want := []string{
		"/opt/app: owned by uid 1234, which the image has no user for",
		"/opt/data: group gid 7, which the image has no group for",
		"/usr/bin/tool: world-writable (urwxr-xrwx)",
		"/var/lib/shared: world-writable (drwxrwxrwx)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckTarNeedsUsersAndGroups(t *testing.T) {
	buf := tarball(t, []tarEntry{{name: "etc/passwd", mode: 0o644, typ: tar.TypeReg, body: passwd}})
	if _, err := CheckTar(buf); err == nil || !strings.Contains(err.Error(), "/etc/group") {
		t.Errorf("err = %v, want one naming /etc/group", err)
	}
	if _, err := CheckTar(strings.NewReader("not a tarball, but long enough to be read as a header block..")); err == nil {
		t.Errorf("garbage: want an error")
	}
}

func TestCheckWithoutIDs(t *testing.T) {
	c := NewChecker(nil, nil)
	if f := c.Check(Entry{Path: "/x", Mode: 0o644, UID: 999, GID: 999}); len(f) != 0 {
		t.Errorf("owners are not checked without passwd and group: %v", f)
	}
	if f := c.Check(Entry{Path: "/x", Mode: fs.ModeDir | 0o777}); len(f) != 1 {
		t.Errorf("world-writable dir: %v", f)
	}
}
