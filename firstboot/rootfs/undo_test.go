package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// undoTree is a tree with a bit of everything a config may touch: files with owners and
// special modes, a hard-linked file, symlinks, a directory with contents.
func undoTree(t *testing.T) *FS {
	t.Helper()
	f := tree(t, []string{"etc/app.d", "var/lib/state", "srv/data/inner"}, map[string]string{
		"etc/link": "/etc/motd",
		"home":     "/var/home",
	})
	for p, data := range map[string]string{
		"etc/motd": "hello\n", "etc/passwd": "root:x:0:0::/root:/bin/sh\n", "etc/app.d/a.conf": "a=1\n",
		"srv/data/inner/f": "deep\n", "srv/data/g": "g\n",
	} {
		if err := os.WriteFile(filepath.Join(f.Dir(), p), []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(f.Dir(), "etc/motd"), filepath.Join(f.Dir(), "etc/motd.hard")); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(filepath.Join(f.Dir(), "etc/passwd"), 0, 42); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(f.Dir(), "srv/data"), 0o2750|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	return f
}

// state describes every node under dir: type, mode, owner, link count, contents or target.
func state(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v %d:%d", rel, fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" n=%d %q", st.Nlink, b)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

var own1234 = Owner{UID: 1234, GID: 4321}

// changes does one of every kind of change, as a config's stages would.
func changes(f *FS) error {
	m := fs.FileMode(0o700)
	for _, step := range []func() error{
		func() error { return f.WriteFile("/etc/motd", []byte("replaced\n"), 0o600, NoOwner) },
		func() error {
			return f.WriteFile("/etc/passwd", []byte("root:x:0:0::/root:/bin/sh\ncore:x:1000:1000::/home/core:/bin/bash\n"), 0o644, NoOwner)
		},
		func() error { return f.WriteFile("/etc/passwd", []byte("twice\n"), 0o644, NoOwner) },
		func() error { return f.WriteFile("/new/deep/dir/file", []byte("new\n"), 0o644, NoOwner) },
		func() error { _, err := f.MkdirAll("/home/core/.ssh", 0o700); return err },
		func() error { return f.SetAttrs("/home/core", &m, NoOwner) },
		func() error { return f.Symlink("/etc/link", "/elsewhere", NoOwner) },
		func() error { return f.Symlink("/etc/systemd/system/x.service", "/dev/null", NoOwner) },
		func() error { return f.RemoveAll("/srv/data") },
		func() error { return f.WriteFile("/srv/data", []byte("a file now\n"), 0o644, NoOwner) },
		func() error { return f.SetAttrs("/etc/app.d", &m, NoOwner) },
		func() error { return f.SetAttrs("/etc/app.d/a.conf", &m, NoOwner) },
		func() error { return f.Link("/etc/app.d/b.conf", "/etc/app.d/a.conf") },
		func() error { return f.RemoveAll("/etc/motd.hard") },
		func() error { return f.RemoveAll("/var/lib/state") },
		func() error { _, err := f.MkdirAll("/var/lib/state", 0o755); return err },
	} {
		if err := step(); err != nil {
			return err
		}
	}
	if os.Geteuid() == 0 {
		if err := f.SetAttrs("/etc/passwd", nil, own1234); err != nil {
			return err
		}
		if err := f.Lchown("/etc/link", own1234); err != nil {
			return err
		}
		return f.SetAttrs("/etc/app.d/a.conf", nil, own1234)
	}
	return nil
}

func TestRollbackRestoresTheTree(t *testing.T) {
	for _, logged := range []bool{false, true} {
		t.Run(fmt.Sprintf("log=%v", logged), func(t *testing.T) {
			f := undoTree(t)
			logPath := ""
			if logged {
				logPath = "/var/undo"
			}
			before := state(t, f.Dir())
			tx, err := f.Begin(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := changes(f); err != nil {
				t.Fatal(err)
			}
			if state(t, f.Dir()) == before {
				t.Fatal("the changes changed nothing")
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if after := state(t, f.Dir()); after != before {
				t.Fatalf("after rollback:\n%s\nbefore:\n%s", after, before)
			}
		})
	}
}

func TestCommitLeavesNothingAside(t *testing.T) {
	f := undoTree(t)
	tx, err := f.Begin("/var/undo")
	if err != nil {
		t.Fatal(err)
	}
	if err := changes(f); err != nil {
		t.Fatal(err)
	}
	want := state(t, f.Dir())
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := state(t, f.Dir())
	if strings.Contains(got, asideMarker) || strings.Contains(got, ".mantlet-") || strings.Contains(got, "var/undo") {
		t.Fatalf("left behind:\n%s", got)
	}
	// the same tree as before the commit, less what was kept aside and the log
	var kept []string
	for _, l := range strings.Split(want, "\n") {
		if !strings.Contains(l, asideMarker) && !strings.HasPrefix(l, "var/undo ") {
			kept = append(kept, l)
		}
	}
	// the asides held a second link to some files: their counts drop
	norm := func(s string) string {
		return strings.NewReplacer("n=2", "n=1", "n=3", "n=1").Replace(s)
	}
	if norm(strings.Join(kept, "\n")) != norm(got) {
		t.Fatalf("commit changed the tree:\n%s\nwant:\n%s", got, strings.Join(kept, "\n"))
	}
	if _, err := f.Begin(""); err != nil {
		t.Fatalf("a second transaction after commit: %v", err)
	}
}

var errPowerCut = errors.New("power cut")

// TestRecoverAfterPowerCut stops the run after each note of the undo log, as a power cut
// would (the note is on disk, its change has not started), then recovers: the tree must
// be the one before the run. It also stops after every change is done but before the
// commit, and once after the commit mark but before the clean-up.
func TestRecoverAfterPowerCut(t *testing.T) {
	f := undoTree(t)
	tx, _ := f.Begin("/var/undo")
	_ = changes(f)
	total := len(tx.notes)
	_ = tx.Rollback()
	for cut := 1; cut <= total+1; cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			f := undoTree(t)
			before := state(t, f.Dir())
			tx, err := f.Begin("/var/undo")
			if err != nil {
				t.Fatal(err)
			}
			tx.afterNote = func(n int) {
				if n == cut {
					panic(errPowerCut)
				}
			}
			func() {
				defer func() {
					if r := recover(); r != nil && r != errPowerCut {
						panic(r)
					}
				}()
				if err := changes(f); err != nil {
					t.Fatal(err)
				}
			}()
			tx.closeLog()
			// a new process: the tree as the power cut left it
			g, err := Open(f.Dir())
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			got, err := g.Recover("/var/undo")
			if err != nil || got != RolledBack {
				t.Fatalf("Recover = %v, %v", got, err)
			}
			if after := state(t, g.Dir()); after != before {
				t.Fatalf("after recovery:\n%s\nbefore:\n%s", after, before)
			}
			if got, err := g.Recover("/var/undo"); err != nil || got != NothingToRecover {
				t.Fatalf("second Recover = %v, %v", got, err)
			}
		})
	}
	t.Run("committed", func(t *testing.T) {
		f := undoTree(t)
		tx, _ := f.Begin("/var/undo")
		if err := changes(f); err != nil {
			t.Fatal(err)
		}
		if err := tx.record(note{Op: "commit"}); err != nil {
			t.Fatal(err)
		}
		tx.closeLog()
		want := state(t, f.Dir())
		got, err := f.Recover("/var/undo")
		if err != nil || got != Committed {
			t.Fatalf("Recover = %v, %v", got, err)
		}
		after := state(t, f.Dir())
		if strings.Contains(after, asideMarker) || strings.Contains(after, "var/undo") {
			t.Fatalf("left behind:\n%s", after)
		}
		if !strings.Contains(after, `etc/motd -rw------- 0:0 n=1 "replaced\n"`) || len(after) >= len(want) {
			t.Fatalf("committed changes lost:\n%s", after)
		}
	})
}

func TestRecoverIgnoresATornLastNote(t *testing.T) {
	notes, committed, err := parseNotes([]byte(`{"op":"created","path":"a"}` + "\n" + `{"op":"aside","pa`))
	if err != nil || committed || len(notes) != 1 || notes[0].Path != "a" {
		t.Fatalf("notes %v, %v, %v", notes, committed, err)
	}
	if _, _, err := parseNotes([]byte("garbage\n")); err == nil {
		t.Fatal("a bad note was accepted")
	}
}
