package audit

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"sort"

	"github.com/mantlet/mantlet/firstboot/rootfs"
)

// image reads the tree under audit as the machine booted from it would: every image path
// is resolved inside the tree (firstboot/rootfs, the agent's own resolver), so that an
// absolute symlink such as /etc/systemd/system/x.service -> /dev/null or
// /etc/ssl/certs -> /usr/share/ca-certificates leads to the image's file, never to the
// audit host's.
type image struct {
	fs *rootfs.FS
}

func openImage(root string) (*image, error) {
	f, err := rootfs.Open(root)
	if err != nil {
		return nil, err
	}
	return &image{fs: f}, nil
}

func (im *image) close() { im.fs.Close() }

// readFile reads the file at an image path, following symlinks inside the tree.
func (im *image) readFile(p string) ([]byte, error) { return im.fs.ReadFile(p) }

// stat describes the node at an image path, following symlinks inside the tree.
func (im *image) stat(p string) (fs.FileInfo, error) {
	rel, err := im.fs.Resolve(p, true)
	if err != nil {
		return nil, err
	}
	return im.fs.Root().Stat(rel)
}

// isFile reports whether an image path is a regular file, following symlinks inside it.
func (im *image) isFile(p string) bool {
	fi, err := im.stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// exists reports whether there is a node at an image path (a dangling symlink counts).
func (im *image) exists(p string) bool {
	_, err := im.fs.Lstat(p)
	return err == nil
}

// isDevNull reports whether an image path leads to /dev/null: systemd's mask.
func (im *image) isDevNull(p string) bool {
	rel, err := im.fs.Resolve(p, true)
	return err == nil && rel == "dev/null"
}

// names lists the entries of the directory at an image path, sorted; none when it is not
// a directory.
func (im *image) names(p string) []string {
	rel, err := im.fs.Resolve(p, true)
	if err != nil {
		return nil
	}
	d, err := im.fs.Root().Open(rel)
	if err != nil {
		return nil
	}
	defer d.Close()
	ns, err := d.Readdirnames(-1)
	if err != nil && !errors.Is(err, os.ErrInvalid) {
		return nil
	}
	sort.Strings(ns)
	return ns
}

// join is path.Join for image paths.
func join(elem ...string) string { return path.Join(elem...) }
