package rootfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree builds a root with the given symlinks (name -> target) and directories.
func tree(t *testing.T, dirs []string, links map[string]string) *FS {
	t.Helper()
	dir := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestResolve(t *testing.T) {
	f := tree(t, []string{"var/home", "etc", "usr/lib"}, map[string]string{
		"home":         "/var/home",
		"lib":          "usr/lib",
		"etc/up":       "../../../../../..",
		"etc/abs":      "/etc",
		"etc/outside":  "/../../tmp",
		"etc/loop":     "loop",
		"etc/dangling": "/nowhere/x",
	})
	tests := []struct {
		in         string
		followLast bool
		want       string
		err        error
	}{
		{"/", false, ".", nil},
		{"/etc/hosts", false, "etc/hosts", nil},
		{"/home/core/.ssh", false, "var/home/core/.ssh", nil},
		{"/home", false, "home", nil},
		{"/home", true, "var/home", nil},
		{"/lib/systemd", false, "usr/lib/systemd", nil},
		{"/etc/up/etc/passwd", false, "etc/passwd", nil},
		{"/etc/abs/shadow", false, "etc/shadow", nil},
		{"/etc/outside/x", false, "tmp/x", nil},
		{"/etc/dangling", true, "nowhere/x", nil},
		{"/etc/loop/x", false, "", ErrLoop},
		{"/etc/../shadow", false, "", ErrDotDot},
		{"etc/shadow", false, "", ErrNotAbsolute},
		{"/etc//./hosts/", false, "etc/hosts", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := f.Resolve(tt.in, tt.followLast)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWritesStayInside writes through every kind of escaping symlink and checks that the
// data lands inside the root and nothing appears outside.
func TestWritesStayInside(t *testing.T) {
	outside := t.TempDir()
	f := tree(t, []string{"etc"}, map[string]string{
		"etc/rel":  "../../../../../../../../" + strings.TrimPrefix(outside, "/"),
		"etc/abs":  outside,
		"etc/file": outside + "/victim",
	})
	for _, p := range []string{"/etc/rel/a", "/etc/abs/b", "/etc/abs/sub/c"} {
		if err := f.WriteFile(p, []byte("x"), 0o644, NoOwner); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if err := f.Symlink("/etc/rel/l", "/etc/shadow", NoOwner); err != nil {
		t.Fatal(err)
	}
	if _, err := f.MkdirAll("/etc/abs/d/e", 0o755); err != nil {
		t.Fatal(err)
	}
	// the final component is replaced, not followed
	if err := f.WriteFile("/etc/file", []byte("y"), 0o600, NoOwner); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("wrote outside the root: %v", entries)
	}
	inside := filepath.Join(f.Dir(), outside)
	for _, name := range []string{"a", "b", "sub/c", "l", "d/e"} {
		if _, err := os.Lstat(filepath.Join(inside, name)); err != nil {
			t.Errorf("missing inside the root: %v", err)
		}
	}
	fi, err := os.Lstat(filepath.Join(f.Dir(), "etc/file"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("etc/file = %v, %v", fi, err)
	}
}

func TestWriteFileAtomicModes(t *testing.T) {
	f := tree(t, nil, nil)
	if err := f.WriteFile("/usr/bin/tool", []byte("#!/bin/sh\n"), Mode(0o4755), NoOwner); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(f.Dir(), "usr/bin/tool"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != fs.ModeSetuid|0o755 {
		t.Fatalf("mode = %v", fi.Mode())
	}
	entries, _ := os.ReadDir(filepath.Join(f.Dir(), "usr/bin"))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestLinkAndRemove(t *testing.T) {
	f := tree(t, []string{"etc"}, nil)
	if err := f.WriteFile("/etc/a", []byte("a"), 0o644, NoOwner); err != nil {
		t.Fatal(err)
	}
	if err := f.Link("/etc/b", "/etc/a"); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(filepath.Join(f.Dir(), "etc/a"))
	b, _ := os.Stat(filepath.Join(f.Dir(), "etc/b"))
	if !os.SameFile(a, b) {
		t.Fatal("not a hard link")
	}
	if err := f.RemoveAll("/etc/b"); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveAll("/etc/b"); err != nil {
		t.Fatalf("removing a missing node: %v", err)
	}
	if err := f.RemoveAll("/"); err == nil {
		t.Fatal("removed the root")
	}
}

func TestMode(t *testing.T) {
	tests := []struct {
		in   int
		want fs.FileMode
	}{
		{0o644, 0o644},
		{0o4755, fs.ModeSetuid | 0o755},
		{0o2755, fs.ModeSetgid | 0o755},
		{0o1777, fs.ModeSticky | 0o777},
	}
	for _, tt := range tests {
		if got := Mode(tt.in); got != tt.want {
			t.Errorf("Mode(%o) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestOpenMakesTheRootAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(filepath.Dir(dir))
	f, err := Open(filepath.Base(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Dir() != dir {
		t.Fatalf("Dir() = %q, want %q", f.Dir(), dir)
	}
}
