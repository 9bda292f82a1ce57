// Package rootfs gives safe access to a directory tree that stands for a machine's root
// filesystem. Paths from an Ignition config are resolved inside the tree the way the kernel
// would resolve them after a chroot: absolute symlinks start again at the tree's root and ".."
// never climbs above it. Every operation then goes through an os.Root, so that even a tree
// changed under our feet cannot lead outside it.
package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxLinks bounds symlink resolution, like the kernel's ELOOP limit.
const maxLinks = 40

var (
	// ErrNotAbsolute reports a config path that does not start with "/".
	ErrNotAbsolute = errors.New("path is not absolute")
	// ErrDotDot reports a config path with a ".." component.
	ErrDotDot = errors.New(`path contains ".."`)
	// ErrLoop reports too many symlinks while resolving a path.
	ErrLoop = errors.New("too many levels of symbolic links")
	// ErrExists reports a node that is in the way and may not be replaced.
	ErrExists = errors.New("exists")
)

// FS is a directory tree treated as a root filesystem.
type FS struct {
	dir  string
	root *os.Root
	tx   *Tx // the open transaction, nil when none
}

// Open opens dir as a root filesystem.
func Open(dir string) (*FS, error) {
	// Absolute, because tools given the root (useradd --prefix) insist on it.
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open root: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", dir, err)
	}
	return &FS{dir: dir, root: r}, nil
}

// Close releases the tree.
func (f *FS) Close() error { return f.root.Close() }

// Dir is the directory the tree lives in.
func (f *FS) Dir() string { return f.dir }

// Root gives the os.Root for operations on already resolved paths.
func (f *FS) Root() *os.Root { return f.root }

// CheckPath checks a path taken from a config: absolute, no "..", no NUL.
func CheckPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/"):
		return ErrNotAbsolute
	case strings.ContainsRune(p, 0):
		return errors.New("path contains a NUL byte")
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return ErrDotDot
		}
	}
	return nil
}

// Resolve turns a config path into a path relative to the tree with no symlink in any of
// its parent directories. Symlinks met on the way are followed inside the tree. The last
// component is followed too when followLast is set; otherwise it is kept as it is (so that
// it can be replaced). The result is "." for the root itself.
func (f *FS) Resolve(p string, followLast bool) (string, error) {
	if err := CheckPath(p); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	rel, err := f.resolve(p, followLast)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", p, err)
	}
	return rel, nil
}

func (f *FS) resolve(p string, followLast bool) (string, error) {
	var done []string
	pending := split(p)
	links := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := append(done[:len(done):len(done)], c)
		if len(pending) == 0 && !followLast {
			done = cand
			break
		}
		fi, err := f.root.Lstat(path.Join(cand...))
		if errors.Is(err, fs.ErrNotExist) {
			done = cand
			continue
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = cand
			continue
		}
		links++
		if links > maxLinks {
			return "", ErrLoop
		}
		target, err := f.root.Readlink(path.Join(cand...))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		pending = append(split(target), pending...)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return path.Join(done...), nil
}

func split(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}

// Lstat describes the node at a config path without following a final symlink.
func (f *FS) Lstat(p string) (fs.FileInfo, error) {
	rel, err := f.Resolve(p, false)
	if err != nil {
		return nil, err
	}
	return f.root.Lstat(rel)
}

// ReadFile reads the file at a config path, following symlinks inside the tree.
func (f *FS) ReadFile(p string) ([]byte, error) {
	rel, err := f.Resolve(p, true)
	if err != nil {
		return nil, err
	}
	return f.root.ReadFile(rel)
}
