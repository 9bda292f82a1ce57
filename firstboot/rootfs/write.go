package rootfs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
)

// Owner is a node's owner; -1 in a field leaves it as the process made it.
type Owner struct {
	UID, GID int
}

// NoOwner leaves ownership alone.
var NoOwner = Owner{UID: -1, GID: -1}

func (o Owner) set() bool { return o.UID >= 0 || o.GID >= 0 }

// MkdirAll creates the directory at a config path and its missing parents with mode perm
// (less the umask). Existing directories are left alone.
func (f *FS) MkdirAll(p string, perm fs.FileMode) (string, error) {
	rel, err := f.Resolve(p, true)
	if err != nil {
		return "", err
	}
	if rel == "." {
		return rel, nil
	}
	if f.tx != nil {
		if err := f.tx.willCreate(rel); err != nil {
			return "", err
		}
	}
	if err := f.root.MkdirAll(rel, perm); err != nil {
		return "", fmt.Errorf("create directory %s: %w", p, err)
	}
	return rel, nil
}

// parent resolves p without its last component, creates the parent directory (0755) and
// returns the resolved parent and the last component.
func (f *FS) parent(p string) (dir, base string, err error) {
	rel, err := f.Resolve(p, false)
	if err != nil {
		return "", "", err
	}
	if rel == "." {
		return "", "", fmt.Errorf("%s: is the root directory", p)
	}
	dir, base = path.Split(rel)
	dir = path.Clean(dir)
	if err := f.tx.willReplace(rel); err != nil {
		return "", "", err
	}
	if dir != "." {
		if err := f.root.MkdirAll(dir, 0o755); err != nil {
			return "", "", fmt.Errorf("create parent of %s: %w", p, err)
		}
	}
	return dir, base, nil
}

func tempName(base string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "." + base + ".mantlet-" + hex.EncodeToString(b[:]), nil
}

// WriteFile replaces the node at a config path by a regular file holding data, atomically:
// the data goes to a temporary file in the same directory, which gets its owner and mode
// and is synced before it is renamed into place. A final symlink is replaced, not followed.
func (f *FS) WriteFile(p string, data []byte, perm fs.FileMode, own Owner) error {
	dir, base, err := f.parent(p)
	if err != nil {
		return err
	}
	tmpBase, err := tempName(base)
	if err != nil {
		return err
	}
	tmp := path.Join(dir, tmpBase)
	if err := f.tx.willCreateTemp(tmp); err != nil {
		return err
	}
	file, err := f.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	err = fill(file, data, perm, own)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.root.Rename(tmp, path.Join(dir, base))
	}
	if err != nil {
		_ = f.root.Remove(tmp)
		return fmt.Errorf("write %s: %w", p, err)
	}
	return f.syncDir(dir)
}

func fill(file *os.File, data []byte, perm fs.FileMode, own Owner) error {
	if _, err := file.Write(data); err != nil {
		return err
	}
	if own.set() {
		if err := file.Chown(own.UID, own.GID); err != nil {
			return err
		}
	}
	// chmod after chown: chown clears the setuid and setgid bits.
	if err := file.Chmod(perm); err != nil {
		return err
	}
	return file.Sync()
}

func (f *FS) syncDir(dir string) error {
	d, err := f.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Symlink replaces the node at a config path by a symlink to target, atomically. The target
// is stored as given; it is resolved inside the tree when the tree is used as a root.
func (f *FS) Symlink(p, target string, own Owner) error {
	return f.replaceWith(p, own, func(tmp string) error { return f.root.Symlink(target, tmp) })
}

// Link replaces the node at a config path by a hard link to the node at config path target,
// atomically. A final symlink in target is linked itself, not followed.
func (f *FS) Link(p, target string) error {
	old, err := f.Resolve(target, false)
	if err != nil {
		return err
	}
	return f.replaceWith(p, NoOwner, func(tmp string) error { return f.root.Link(old, tmp) })
}

func (f *FS) replaceWith(p string, own Owner, create func(tmp string) error) error {
	dir, base, err := f.parent(p)
	if err != nil {
		return err
	}
	tmpBase, err := tempName(base)
	if err != nil {
		return err
	}
	tmp := path.Join(dir, tmpBase)
	if err := f.tx.willCreateTemp(tmp); err != nil {
		return err
	}
	if err := create(tmp); err != nil {
		return fmt.Errorf("link %s: %w", p, err)
	}
	if own.set() {
		err = f.root.Lchown(tmp, own.UID, own.GID)
	}
	if err == nil {
		err = f.root.Rename(tmp, path.Join(dir, base))
	}
	if err != nil {
		_ = f.root.Remove(tmp)
		return fmt.Errorf("link %s: %w", p, err)
	}
	return f.syncDir(dir)
}

// RemoveAll removes the node at a config path and anything below it; a final symlink is
// removed, not followed. A missing node is not an error.
func (f *FS) RemoveAll(p string) error {
	rel, err := f.Resolve(p, false)
	if err != nil {
		return err
	}
	if rel == "." {
		return fmt.Errorf("%s: will not remove the root directory", p)
	}
	remove := f.root.RemoveAll
	if f.tx != nil {
		remove = f.tx.remove
	}
	if err := remove(rel); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}

// SetAttrs sets the mode (when perm is not nil) and owner of the node at a config path,
// following a final symlink inside the tree.
func (f *FS) SetAttrs(p string, perm *fs.FileMode, own Owner) error {
	rel, err := f.Resolve(p, true)
	if err != nil {
		return err
	}
	if own.set() || perm != nil {
		if err := f.tx.willChangeAttrs(rel); err != nil {
			return err
		}
	}
	if own.set() {
		if err := f.root.Lchown(rel, own.UID, own.GID); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
	}
	if perm != nil {
		if err := f.root.Chmod(rel, *perm); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}

// Lchown sets the owner of the node at a config path itself, not following a final symlink.
func (f *FS) Lchown(p string, own Owner) error {
	if !own.set() {
		return nil
	}
	rel, err := f.Resolve(p, false)
	if err != nil {
		return err
	}
	if err := f.tx.willChangeAttrs(rel); err != nil {
		return err
	}
	if err := f.root.Lchown(rel, own.UID, own.GID); err != nil {
		return fmt.Errorf("chown %s: %w", p, err)
	}
	return nil
}

// Mode turns an Ignition mode (a number such as 0o4755) into an fs.FileMode with the
// setuid, setgid and sticky bits in Go's places.
func Mode(m int) fs.FileMode {
	mode := fs.FileMode(m) & fs.ModePerm
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
