package stages

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/mantlet/mantlet/firstboot/rootfs"
)

var errExists = fmt.Errorf("%w and overwrite is not set", rootfs.ErrExists)

func (n node) apply(fsys *rootfs.FS, j Journal, own rootfs.Owner) error {
	fi, err := fsys.Lstat(n.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	switch n.kind {
	case kindDir:
		return n.applyDir(fsys, fi, own)
	case kindFile:
		return n.applyFile(fsys, j, fi, own)
	default:
		return n.applyLink(fsys, fi, own)
	}
}

func (n node) applyDir(fsys *rootfs.FS, fi fs.FileInfo, own rootfs.Owner) error {
	if fi != nil && !isDirFollowing(fsys, n.path) {
		if !n.overwrite {
			return fmt.Errorf("%s: not a directory: %w", n.path, errExists)
		}
		if err := fsys.RemoveAll(n.path); err != nil {
			return err
		}
		fi = nil
	}
	perm := n.mode
	if fi == nil {
		if _, err := fsys.MkdirAll(n.path, 0o755); err != nil {
			return err
		}
		if perm == nil {
			m := fs.FileMode(0o755)
			perm = &m
		}
	}
	return fsys.SetAttrs(n.path, perm, own)
}

func isDirFollowing(fsys *rootfs.FS, p string) bool {
	rel, err := fsys.Resolve(p, true)
	if err != nil {
		return false
	}
	fi, err := fsys.Root().Lstat(rel)
	return err == nil && fi.IsDir()
}

func (n node) applyFile(fsys *rootfs.FS, j Journal, fi fs.FileInfo, own rootfs.Owner) error {
	want := append(append([]byte(nil), n.contents...), n.appends...)
	perm := fs.FileMode(0o644)
	if n.mode != nil {
		perm = *n.mode
	}
	switch {
	case fi == nil:
	case fi.Mode().IsRegular() && !n.overwrite:
		old, err := fsys.ReadFile(n.path)
		if err != nil {
			return err
		}
		if n.hasSource {
			// a second run after an interrupted one finds its own file: leave it
			if !bytes.Equal(old, want) {
				return fmt.Errorf("%s: %w (contents differ)", n.path, errExists)
			}
			return fsys.SetAttrs(n.path, &perm, own)
		}
		if n.mode == nil {
			perm = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
		if len(n.appends) == 0 || (j != nil && j.Done(n.appendKey())) {
			return fsys.SetAttrs(n.path, &perm, own)
		}
		want = append(old, n.appends...)
	case fi.Mode().IsRegular():
	case !n.overwrite:
		return fmt.Errorf("%s: not a regular file: %w", n.path, errExists)
	case fi.IsDir():
		if err := fsys.RemoveAll(n.path); err != nil {
			return err
		}
	}
	if own == rootfs.NoOwner && fi != nil && fi.Mode().IsRegular() {
		own = ownerOf(fi)
	}
	if err := fsys.WriteFile(n.path, want, perm, own); err != nil {
		return err
	}
	if j != nil && len(n.appends) > 0 {
		// an interrupted boot run again must not append twice
		return j.Record(n.appendKey())
	}
	return nil
}

// appendKey names appending this node's fragments to its file, for the journal.
func (n node) appendKey() string {
	h := sha256.New()
	h.Write([]byte(n.at + "\x00" + n.path + "\x00"))
	h.Write(n.appends)
	return "append " + hex.EncodeToString(h.Sum(nil))
}

// ownerOf keeps a replaced file's owner when the config names none.
func ownerOf(fi fs.FileInfo) rootfs.Owner {
	if uid, gid, ok := statOwner(fi); ok {
		return rootfs.Owner{UID: uid, GID: gid}
	}
	return rootfs.NoOwner
}

func (n node) applyLink(fsys *rootfs.FS, fi fs.FileInfo, own rootfs.Owner) error {
	if fi != nil {
		same, err := n.sameLink(fsys, fi)
		if err != nil {
			return err
		}
		switch {
		case same && n.hard:
			return nil
		case same:
			return fsys.Lchown(n.path, own)
		case !n.overwrite:
			return fmt.Errorf("%s: %w", n.path, errExists)
		case fi.IsDir():
			if err := fsys.RemoveAll(n.path); err != nil {
				return err
			}
		}
	}
	if n.hard {
		return fsys.Link(n.path, n.target)
	}
	return fsys.Symlink(n.path, n.target, own)
}

// sameLink says whether the node at the path already is the link asked for.
func (n node) sameLink(fsys *rootfs.FS, fi fs.FileInfo) (bool, error) {
	if !n.hard {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return false, nil
		}
		rel, err := fsys.Resolve(n.path, false)
		if err != nil {
			return false, err
		}
		target, err := fsys.Root().Readlink(rel)
		return err == nil && target == n.target, err
	}
	tfi, err := fsys.Lstat(n.target)
	if err != nil {
		return false, fmt.Errorf("hard link target %s: %w", n.target, err)
	}
	return os.SameFile(fi, tfi), nil
}
