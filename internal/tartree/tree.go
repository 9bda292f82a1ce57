// Package tartree edits a root file system that is held as a tar archive, without unpacking
// it: no root privileges, no mounts, no chroot. Open scans the headers (the data stays on
// disk); reads, writes, symlinks, removals and owner or mode changes are kept in memory; WriteTo
// writes the edited archive, copying every unchanged entry byte for byte and placing new
// entries where a name-sorted archive has them. The same archive and the same edits give the
// same bytes.
package tartree

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// Tree is an archive and the edits made to it.
type Tree struct {
	f       *os.File
	entries []*entry          // in archive order, then the added ones
	byPath  map[string]*entry // the current tree: removed entries are not in it
	mtime   time.Time         // of new and changed entries
}

// entry is one archive member. start and end delimit its bytes in the archive (headers,
// data and padding); dataOff is where its data begins. An added entry has start = -1.
type entry struct {
	path    string // clean, relative to the root: "" is the root, "etc/passwd"
	hdr     *tar.Header
	start   int64
	dataOff int64
	end     int64
	removed bool
	changed bool   // hdr or content differ from the archive: the entry is written anew
	data    []byte // new content of a regular file; nil: the archive's (dataOff, hdr.Size)
	dataSrc *entry // content comes from the archive bytes of this entry (a promoted hard link)
}

// ErrNotExist and the other errors wrap io/fs's, so errors.Is works as with os.
var (
	errLoop = errors.New("too many levels of symbolic links")
)

// Open scans the archive at file. mtime is given to new entries, changed entries and the
// directories whose contents change (SOURCE_DATE_EPOCH).
func Open(file string, mtime time.Time) (*Tree, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	t := &Tree{f: f, byPath: map[string]*entry{}, mtime: mtime.UTC()}
	if err := t.scan(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return t, nil
}

// Close closes the archive.
func (t *Tree) Close() error { return t.f.Close() }

func (t *Tree) scan() error {
	tr := tar.NewReader(t.f)
	var prevEnd int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			if t.byPath[""] == nil { // an archive without "./": the root is a plain directory
				root := &entry{path: "", start: -1, changed: true,
					hdr: &tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755, ModTime: t.mtime, Format: tar.FormatPAX}}
				t.entries = append(t.entries, root)
				t.byPath[""] = root
			}
			return nil
		}
		if err != nil {
			return err
		}
		off, err := t.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		e := &entry{path: Clean(hdr.Name), hdr: hdr, start: prevEnd, dataOff: off}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		default:
			return fmt.Errorf("%s: tar entry type %q is not supported", hdr.Name, hdr.Typeflag)
		}
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = Clean(hdr.Linkname)
		}
		size := int64(0)
		if hdr.Typeflag == tar.TypeReg {
			size = hdr.Size
		}
		e.end = off + (size+511)/512*512
		prevEnd = e.end
		if old, dup := t.byPath[e.path]; dup {
			old.removed = true // a later member replaces an earlier one, as tar extracts them
		}
		t.entries = append(t.entries, e)
		t.byPath[e.path] = e
	}
}

// Clean turns an archive or absolute path into the tree's form: relative, no "./", no
// trailing slash, "" for the root.
func Clean(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

// Info describes an entry of the tree.
type Info struct {
	Path     string // absolute: /etc/passwd
	Type     byte   // tar.TypeReg, TypeDir, TypeSymlink, TypeLink, ...
	Mode     fs.FileMode
	UID, GID int
	Size     int64
	Linkname string // a symlink's target, as written
}

func (e *entry) info() Info {
	i := Info{Path: "/" + e.path, Type: e.hdr.Typeflag, Mode: fs.FileMode(e.hdr.Mode).Perm() | specialBits(e.hdr.Mode),
		UID: e.hdr.Uid, GID: e.hdr.Gid, Linkname: e.hdr.Linkname}
	if e.hdr.Typeflag == tar.TypeReg {
		i.Size = e.hdr.Size
	}
	return i
}

func specialBits(m int64) fs.FileMode {
	var b fs.FileMode
	if m&0o4000 != 0 {
		b |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		b |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		b |= fs.ModeSticky
	}
	return b
}

// FileMode is the entry's type and permission bits as io/fs has them (a hard link is a
// regular file).
func (i Info) FileMode() fs.FileMode {
	m := i.Mode
	switch i.Type {
	case tar.TypeDir:
		m |= fs.ModeDir
	case tar.TypeSymlink:
		m |= fs.ModeSymlink
	case tar.TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case tar.TypeBlock:
		m |= fs.ModeDevice
	case tar.TypeFifo:
		m |= fs.ModeNamedPipe
	}
	return m
}

// IsDir, IsSymlink and IsRegular tell the type of an entry.
func (i Info) IsDir() bool     { return i.Type == tar.TypeDir }
func (i Info) IsSymlink() bool { return i.Type == tar.TypeSymlink }
func (i Info) IsRegular() bool { return i.Type == tar.TypeReg || i.Type == tar.TypeLink }

func notExist(op, p string) error {
	return &fs.PathError{Op: op, Path: "/" + Clean(p), Err: fs.ErrNotExist}
}

// resolve follows the symlinks of p inside the tree (an absolute target is taken from the
// tree's root, never the host's) and returns its clean path. The last component is followed
// only when followLast is set. A missing component ends the walk: the rest is appended as is,
// and found is false.
func (t *Tree) resolve(p string, followLast bool) (resolved string, found bool, err error) {
	todo := strings.Split(Clean(p), "/")
	if len(todo) == 1 && todo[0] == "" {
		return "", true, nil
	}
	var cur []string
	hops := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		next := strings.Join(append(cur, name), "/")
		e := t.byPath[next]
		if e == nil {
			return strings.Join(append(append(cur, name), todo...), "/"), false, nil
		}
		if e.hdr.Typeflag == tar.TypeSymlink && (len(todo) > 0 || followLast) {
			if hops++; hops > 40 {
				return "", false, &fs.PathError{Op: "resolve", Path: "/" + Clean(p), Err: errLoop}
			}
			target := strings.Split(e.hdr.Linkname, "/")
			if strings.HasPrefix(e.hdr.Linkname, "/") {
				cur = nil
			}
			todo = append(target, todo...)
			continue
		}
		if len(todo) > 0 && e.hdr.Typeflag != tar.TypeDir {
			return "", false, &fs.PathError{Op: "resolve", Path: "/" + next, Err: errors.New("not a directory")}
		}
		cur = append(cur, name)
	}
	return strings.Join(cur, "/"), true, nil
}

// Lstat describes p without following a symlink in its last component.
func (t *Tree) Lstat(p string) (Info, error) {
	r, found, err := t.resolve(p, false)
	if err != nil {
		return Info{}, err
	}
	if !found {
		return Info{}, notExist("lstat", p)
	}
	return t.byPath[r].info(), nil
}

// Stat describes what p names, following symlinks.
func (t *Tree) Stat(p string) (Info, error) {
	r, found, err := t.resolve(p, true)
	if err != nil {
		return Info{}, err
	}
	if !found {
		return Info{}, notExist("stat", p)
	}
	return t.byPath[r].info(), nil
}

// Exists tells whether p names an entry (a dangling symlink counts).
func (t *Tree) Exists(p string) bool {
	_, err := t.Lstat(p)
	return err == nil
}

// ReadFile returns the content of the regular file p names, following symlinks and hard links.
func (t *Tree) ReadFile(p string) ([]byte, error) {
	r, found, err := t.resolve(p, true)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notExist("read", p)
	}
	e := t.byPath[r]
	if e.hdr.Typeflag == tar.TypeLink {
		if e = t.byPath[e.hdr.Linkname]; e == nil {
			return nil, notExist("read", p)
		}
	}
	if e.hdr.Typeflag != tar.TypeReg {
		return nil, &fs.PathError{Op: "read", Path: "/" + r, Err: errors.New("not a regular file")}
	}
	return t.content(e)
}

func (t *Tree) content(e *entry) ([]byte, error) {
	if e.data != nil {
		return e.data, nil
	}
	src := e
	if e.dataSrc != nil {
		src = e.dataSrc
	}
	b := make([]byte, e.hdr.Size)
	if _, err := t.f.ReadAt(b, src.dataOff); err != nil {
		return nil, fmt.Errorf("read /%s from the archive: %w", e.path, err)
	}
	return b, nil
}

// ReadDir lists the entries directly under the directory p names, sorted by name.
func (t *Tree) ReadDir(p string) ([]Info, error) {
	r, found, err := t.resolve(p, true)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, notExist("readdir", p)
	}
	if d := t.byPath[r]; d.hdr.Typeflag != tar.TypeDir {
		return nil, &fs.PathError{Op: "readdir", Path: "/" + r, Err: errors.New("not a directory")}
	}
	var out []Info
	for q, e := range t.byPath {
		if q != "" && parent(q) == r {
			out = append(out, e.info())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Walk calls fn for p and everything under it (not following symlinks), parents first, in
// name order.
func (t *Tree) Walk(p string, fn func(Info) error) error {
	r, found, err := t.resolve(p, false)
	if err != nil {
		return err
	}
	if !found {
		return notExist("walk", p)
	}
	var paths []string
	for q := range t.byPath {
		if under(q, r) {
			paths = append(paths, q)
		}
	}
	sort.Slice(paths, func(i, j int) bool { return Less(paths[i], paths[j]) })
	for _, q := range paths {
		if e := t.byPath[q]; e != nil { // fn may remove entries
			if err := fn(e.info()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Glob returns the paths, sorted, whose last component matches pattern (path.Match) in the
// directory dir names; none when dir does not exist.
func (t *Tree) Glob(dir, pattern string) ([]string, error) {
	infos, err := t.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, i := range infos {
		ok, err := path.Match(pattern, path.Base(i.Path))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, i.Path)
		}
	}
	return out, nil
}

// Open returns a reader of the regular file p names, following symlinks, and its size.
func (t *Tree) Open(p string) (io.Reader, int64, error) {
	r, found, err := t.resolve(p, true)
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, notExist("open", p)
	}
	e := t.byPath[r]
	if e.hdr.Typeflag == tar.TypeLink {
		if e = t.byPath[e.hdr.Linkname]; e == nil {
			return nil, 0, notExist("open", p)
		}
	}
	if e.hdr.Typeflag != tar.TypeReg {
		return nil, 0, &fs.PathError{Op: "open", Path: "/" + r, Err: errors.New("not a regular file")}
	}
	if e.data != nil {
		return bytes.NewReader(e.data), e.hdr.Size, nil
	}
	src := e
	if e.dataSrc != nil {
		src = e.dataSrc
	}
	return io.NewSectionReader(t.f, src.dataOff, e.hdr.Size), e.hdr.Size, nil
}

func parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// under tells whether q is p or below it.
func under(q, p string) bool {
	return p == "" || q == p || strings.HasPrefix(q, p+"/")
}

// Less orders paths as a name-sorted archive has them (tar --sort=name): component by
// component, a directory before what is in it.
func Less(a, b string) bool {
	for {
		if a == b {
			return false
		}
		if a == "" {
			return true
		}
		if b == "" {
			return false
		}
		ah, at, _ := strings.Cut(a, "/")
		bh, bt, _ := strings.Cut(b, "/")
		if ah != bh {
			return ah < bh
		}
		a, b = at, bt
	}
}
