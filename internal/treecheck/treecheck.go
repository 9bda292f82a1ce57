// Package treecheck finds what must not be in an image's root tree: world-writable files and
// directories (directories with the sticky bit excepted), and files whose owner or group the
// image has no user or group for. The build runs it on the root tarball before packing it; the
// audit runs it on an unpacked tree.
package treecheck

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Finding is one thing wrong with one path.
type Finding struct {
	Path string // absolute, in the image
	Msg  string
}

func (f Finding) String() string { return f.Path + ": " + f.Msg }

// Entry is what the checks read of one file.
type Entry struct {
	Path     string // absolute, in the image
	Mode     fs.FileMode
	UID, GID uint32
}

// skipTrees are not image content: kernel and runtime file systems, empty in an image.
var skipTrees = []string{"/proc", "/sys", "/dev", "/run", "/tmp"}

// Skip reports whether p (absolute, cleaned) is in a tree the checks leave out.
func Skip(p string) bool {
	for _, s := range skipTrees {
		if p == s || strings.HasPrefix(p, s+"/") {
			return true
		}
	}
	return false
}

// Checker checks entries against the image's users and groups.
type Checker struct {
	users, groups map[uint32]bool // nil: unknown, not checked
}

// NewChecker reads the numeric ids of the image's /etc/passwd and /etc/group; with nil data
// owners are not checked.
func NewChecker(passwd, group []byte) *Checker {
	return &Checker{users: ParseIDs(passwd), groups: ParseIDs(group)}
}

// Check returns what is wrong with e. Symbolic links have no modes of their own.
func (c *Checker) Check(e Entry) []Finding {
	if e.Mode&fs.ModeSymlink != 0 || Skip(e.Path) {
		return nil
	}
	var fs_ []Finding
	if e.Mode.Perm()&0o002 != 0 && !(e.Mode.IsDir() && e.Mode&fs.ModeSticky != 0) {
		fs_ = append(fs_, Finding{e.Path, fmt.Sprintf("world-writable (%s)", e.Mode)})
	}
	if c.users != nil && !c.users[e.UID] {
		fs_ = append(fs_, Finding{e.Path, fmt.Sprintf("owned by uid %d, which the image has no user for", e.UID)})
	}
	if c.groups != nil && !c.groups[e.GID] {
		fs_ = append(fs_, Finding{e.Path, fmt.Sprintf("group gid %d, which the image has no group for", e.GID)})
	}
	return fs_
}

// ParseIDs reads the numeric ids (third field) of a passwd or group file; nil for nil data.
func ParseIDs(data []byte) map[uint32]bool {
	if data == nil {
		return nil
	}
	m := map[uint32]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
			m[uint32(id)] = true
		}
	}
	return m
}

// CheckTar checks every entry of a root tree tarball (as mmdebstrap writes it: names relative
// to the root, "./" or not). The tarball's own etc/passwd and etc/group give the known ids; a
// tarball without them is an error. Findings are sorted by path.
func CheckTar(r io.Reader) ([]Finding, error) {
	tr := tar.NewReader(r)
	var entries []Entry
	var passwd, group []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read root tarball: %w", err)
		}
		p := path.Clean("/" + h.Name)
		switch p {
		case "/etc/passwd", "/etc/group":
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("read root tarball %s: %w", p, err)
			}
			if p == "/etc/passwd" {
				passwd = data
			} else {
				group = data
			}
		}
		entries = append(entries, Entry{Path: p, Mode: h.FileInfo().Mode(), UID: uint32(h.Uid), GID: uint32(h.Gid)})
	}
	if passwd == nil || group == nil {
		return nil, errors.New("root tarball has no /etc/passwd or /etc/group")
	}
	c := NewChecker(passwd, group)
	var out []Finding
	for _, e := range entries {
		out = append(out, c.Check(e)...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
