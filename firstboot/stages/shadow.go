package stages

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mantlet/mantlet/firstboot/rootfs"
)

// shadowDatabases are the files groupadd, useradd and usermod change; shadowSettings the
// ones they read besides. Both are copied for the tools; the databases and the backups the
// tools make of them (passwd- for passwd...) come back.
var (
	shadowDatabases = []string{"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/subuid", "/etc/subgid"}
	shadowSettings  = []string{"/etc/login.defs", "/etc/default/useradd"}
)

// runShadow runs the steps on a copy of the root's account files in a temporary directory
// outside the root, then writes each database that changed into the root, atomically and
// with its mode and owner, through the root's transaction.
func runShadow(ctx context.Context, env *Env, steps []passwdStep) error {
	dir, err := os.MkdirTemp("", "mantlet-passwd-")
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	defer os.RemoveAll(dir)
	orig := map[string]fs.FileInfo{}
	for _, p := range append(shadowDatabases, shadowSettings...) {
		fi, err := copyOut(env.FS, p, filepath.Join(dir, p))
		if err != nil {
			return fmt.Errorf("passwd: copy %s: %w", p, err)
		}
		orig[p] = fi
	}
	for _, s := range steps {
		if _, err := env.Runner.Run(ctx, withPrefix(s.cmd, dir)); err != nil {
			return fmt.Errorf("%s: %w", s.at, err)
		}
	}
	// the backups first: the databases are the ones that count when a write fails
	var back []string
	for _, p := range shadowDatabases {
		back = append(back, p+"-")
		if orig[p] != nil {
			orig[p+"-"] = orig[p] // a new backup gets its database's mode and owner
		}
	}
	if err := copyBack(env, dir, back, orig); err != nil {
		return err
	}
	return copyBack(env, dir, shadowDatabases, orig)
}

// copyBack writes each file of the tools' copy that differs from the root's into the root,
// with the mode and owner of the root's file (orig; the copy's own when there is none).
func copyBack(env *Env, dir string, files []string, orig map[string]fs.FileInfo) error {
	for _, p := range files {
		data, err := os.ReadFile(filepath.Join(dir, p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
		old, err := env.FS.ReadFile(p)
		switch {
		case err == nil && bytes.Equal(old, data):
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("passwd: %w", err)
		}
		fi := orig[p]
		if fi == nil {
			if fi, err = os.Stat(filepath.Join(dir, p)); err != nil {
				return fmt.Errorf("passwd: %w", err)
			}
		}
		own := rootfs.NoOwner
		if uid, gid, ok := statOwner(fi); ok {
			own = rootfs.Owner{UID: uid, GID: gid}
		}
		if err := env.FS.WriteFile(p, data, fi.Mode().Perm(), own); err != nil {
			return fmt.Errorf("passwd: %w", err)
		}
	}
	return nil
}

// copyOut copies the file at config path p of the root (when there is one) to dst, with its
// permission bits, and describes the root's file (nil when there is none).
func copyOut(fsys *rootfs.FS, p, dst string) (fs.FileInfo, error) {
	rel, err := fsys.Resolve(p, true)
	if err != nil {
		return nil, err
	}
	fi, err := fsys.Root().Stat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	data, err := fsys.Root().ReadFile(rel)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return nil, err
	}
	return fi, os.Chmod(dst, fi.Mode().Perm())
}
