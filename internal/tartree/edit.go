package tartree

import (
	"archive/tar"
	"errors"
	"io/fs"
	"sort"
	"strings"
)

// Owner is a numeric owner and group.
type Owner struct{ UID, GID int }

// Root is root:root.
var Root = Owner{}

// tarMode is the mode field of a tar header for m: permission and setuid, setgid, sticky bits.
func tarMode(m fs.FileMode) int64 {
	v := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

// place resolves the parent of p (following symlinks) and returns where p lands. With mkdirs,
// missing parents are made (0755, root), as mkdir -p would.
func (t *Tree) place(p string, mkdirs bool) (string, error) {
	c := Clean(p)
	if c == "" {
		return "", &fs.PathError{Op: "write", Path: "/", Err: errors.New("is the root")}
	}
	dir, base := parent(c), c[len(parent(c)):]
	base = strings.TrimPrefix(base, "/")
	rdir, found, err := t.resolve(dir, true)
	if err != nil {
		return "", err
	}
	if !found {
		if !mkdirs {
			return "", notExist("write", p)
		}
		if err := t.MkdirAll("/"+dir, 0o755, Root); err != nil {
			return "", err
		}
		if rdir, _, err = t.resolve(dir, true); err != nil {
			return "", err
		}
	}
	if d := t.byPath[rdir]; d == nil || d.hdr.Typeflag != tar.TypeDir {
		return "", &fs.PathError{Op: "write", Path: "/" + rdir, Err: errors.New("not a directory")}
	}
	if rdir == "" {
		return base, nil
	}
	return rdir + "/" + base, nil
}

// put makes hdr the entry at loc (a clean path whose parent exists): it replaces what is
// there, which must not be a directory, or adds a new entry.
func (t *Tree) put(loc string, hdr *tar.Header, data []byte) error {
	hdr.Name = archiveName(loc, hdr.Typeflag)
	if e := t.byPath[loc]; e != nil {
		if e.hdr.Typeflag == tar.TypeDir {
			return &fs.PathError{Op: "write", Path: "/" + loc, Err: errors.New("is a directory")}
		}
		t.detachLinks(e)
		e.hdr, e.data, e.dataSrc, e.changed = hdr, data, nil, true
	} else {
		e := &entry{path: loc, hdr: hdr, data: data, start: -1, changed: true}
		t.entries = append(t.entries, e)
		t.byPath[loc] = e
	}
	t.touch(parent(loc))
	return nil
}

func archiveName(loc string, typ byte) string {
	if loc == "" {
		return "./"
	}
	if typ == tar.TypeDir {
		return "./" + loc + "/"
	}
	return "./" + loc
}

// touch gives directory p the tree's mtime: its contents changed.
func (t *Tree) touch(p string) {
	d := t.byPath[p]
	if d == nil || d.hdr.ModTime.Equal(t.mtime) {
		return
	}
	h := cloneHeader(d.hdr)
	h.ModTime = t.mtime
	d.hdr, d.changed = h, true
}

// WriteFile makes p a regular file with data, mode and owner, replacing a file or symlink
// there; missing parent directories are made (0755, root). Symlinks in the parents are
// followed, as they would be on a mounted tree.
func (t *Tree) WriteFile(p string, data []byte, mode fs.FileMode, o Owner) error {
	loc, err := t.place(p, true)
	if err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	return t.put(loc, &tar.Header{Typeflag: tar.TypeReg, Mode: tarMode(mode), Uid: o.UID, Gid: o.GID,
		Size: int64(len(data)), ModTime: t.mtime, Format: tar.FormatPAX}, data)
}

// Symlink makes p a symlink to target (as given, relative or absolute), replacing a file or
// symlink there.
func (t *Tree) Symlink(target, p string) error {
	loc, err := t.place(p, true)
	if err != nil {
		return err
	}
	return t.put(loc, &tar.Header{Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777,
		ModTime: t.mtime, Format: tar.FormatPAX}, nil)
}

// MkdirAll makes directory p and its missing parents with mode and owner; existing
// directories are left as they are.
func (t *Tree) MkdirAll(p string, mode fs.FileMode, o Owner) error {
	c := Clean(p)
	if c == "" {
		return nil
	}
	r, found, err := t.resolve(c, true)
	if err != nil {
		return err
	}
	if found {
		if t.byPath[r].hdr.Typeflag != tar.TypeDir {
			return &fs.PathError{Op: "mkdir", Path: "/" + r, Err: errors.New("not a directory")}
		}
		return nil
	}
	if err := t.MkdirAll("/"+parent(c), 0o755, Root); err != nil {
		return err
	}
	loc, err := t.place(c, false)
	if err != nil {
		return err
	}
	return t.put(loc, &tar.Header{Typeflag: tar.TypeDir, Mode: tarMode(mode), Uid: o.UID, Gid: o.GID,
		ModTime: t.mtime, Format: tar.FormatPAX}, nil)
}

// Remove removes p (not following a symlink in its last component); a directory must be
// empty. A missing p is an error wrapping fs.ErrNotExist.
func (t *Tree) Remove(p string) error {
	loc, found, err := t.resolve(p, false)
	if err != nil {
		return err
	}
	if !found {
		return notExist("remove", p)
	}
	e := t.byPath[loc]
	if e.hdr.Typeflag == tar.TypeDir {
		for q := range t.byPath {
			if q != loc && under(q, loc) {
				return &fs.PathError{Op: "remove", Path: "/" + loc, Err: errors.New("directory not empty")}
			}
		}
	}
	t.drop(e)
	return nil
}

// RemoveAll removes p and everything under it, as rm -rf does; a missing p is no error.
func (t *Tree) RemoveAll(p string) error {
	loc, found, err := t.resolve(p, false)
	if err != nil || !found {
		return err
	}
	if loc == "" {
		return &fs.PathError{Op: "remove", Path: "/", Err: errors.New("is the root")}
	}
	var doomed []*entry
	for q, e := range t.byPath {
		if under(q, loc) {
			doomed = append(doomed, e)
		}
	}
	sort.Slice(doomed, func(i, j int) bool { return Less(doomed[j].path, doomed[i].path) }) // children first
	for _, e := range doomed {
		t.drop(e)
	}
	return nil
}

func (t *Tree) drop(e *entry) {
	t.detachLinks(e)
	e.removed = true
	delete(t.byPath, e.path)
	t.touch(parent(e.path))
}

// detachLinks keeps the content of e for the hard links to it when e goes away or changes:
// the first link becomes a regular file with e's content and metadata, the others link to it,
// as unlinking one name of a file leaves the others.
func (t *Tree) detachLinks(e *entry) {
	if e.hdr.Typeflag != tar.TypeReg {
		return
	}
	var first *entry
	for _, l := range t.entries {
		if l.removed || l == e || l.hdr.Typeflag != tar.TypeLink || l.hdr.Linkname != e.path {
			continue
		}
		if first == nil {
			h := cloneHeader(e.hdr)
			h.Name = archiveName(l.path, tar.TypeReg)
			first = l
			l.hdr, l.changed = h, true
			switch {
			case e.data != nil:
				l.data = e.data
			case e.dataSrc != nil:
				l.dataSrc = e.dataSrc
			default:
				l.dataSrc = e
			}
			continue
		}
		h := cloneHeader(l.hdr)
		h.Linkname = first.path
		l.hdr, l.changed = h, true
	}
}

// SetMode changes the mode of p (not following a symlink in its last component).
func (t *Tree) SetMode(p string, mode fs.FileMode) error {
	return t.edit(p, func(h *tar.Header) { h.Mode = tarMode(mode) })
}

// SetOwner changes the owner of p (not following a symlink in its last component).
func (t *Tree) SetOwner(p string, o Owner) error {
	return t.edit(p, func(h *tar.Header) { h.Uid, h.Gid, h.Uname, h.Gname = o.UID, o.GID, "", "" })
}

func (t *Tree) edit(p string, fn func(*tar.Header)) error {
	loc, found, err := t.resolve(p, false)
	if err != nil {
		return err
	}
	if !found {
		return notExist("chmod", p)
	}
	e := t.byPath[loc]
	h := cloneHeader(e.hdr)
	fn(h)
	if h.Mode == e.hdr.Mode && h.Uid == e.hdr.Uid && h.Gid == e.hdr.Gid {
		return nil
	}
	if e.hdr.Typeflag == tar.TypeLink {
		return &fs.PathError{Op: "chmod", Path: "/" + loc, Err: errors.New("is a hard link: change the file it links to")}
	}
	e.hdr, e.changed = h, true
	return nil
}

// cloneHeader copies a header for writing anew: the extended attributes are kept, the
// records the header's own fields stand for are not.
func cloneHeader(h *tar.Header) *tar.Header {
	c := &tar.Header{Typeflag: h.Typeflag, Name: h.Name, Linkname: h.Linkname, Size: h.Size, Mode: h.Mode,
		Uid: h.Uid, Gid: h.Gid, ModTime: h.ModTime, Devmajor: h.Devmajor, Devminor: h.Devminor, Format: tar.FormatPAX}
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			if c.PAXRecords == nil {
				c.PAXRecords = map[string]string{}
			}
			c.PAXRecords[k] = v
		}
	}
	return c
}
