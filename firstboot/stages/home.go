package stages

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/mantlet/mantlet/firstboot/accounts"
	"github.com/mantlet/mantlet/firstboot/rootfs"
)

// ensureHome creates the user's home inside the root when it is missing (a /home symlink
// is followed inside the root) with mode (login.defs' HOME_MODE, as useradd), fills it from
// /etc/skel and gives it to the user.
func ensureHome(env *Env, u accounts.User, mode fs.FileMode) error {
	if u.Home == "" || u.Home == "/" || u.Home == "/nonexistent" {
		return nil
	}
	if _, err := env.FS.Root().Stat(mustResolve(env.FS, u.Home)); err == nil {
		return nil
	}
	own := rootfs.Owner{UID: u.UID, GID: u.GID}
	if _, err := env.FS.MkdirAll(u.Home, 0o755); err != nil {
		return fmt.Errorf("home of %s: %w", u.Name, err)
	}
	if err := env.FS.SetAttrs(u.Home, &mode, own); err != nil {
		return fmt.Errorf("home of %s: %w", u.Name, err)
	}
	if err := copySkel(env.FS, "/etc/skel", u.Home, own); err != nil {
		return fmt.Errorf("home of %s: %w", u.Name, err)
	}
	env.logf("created home %s for %s", u.Home, u.Name)
	return nil
}

func mustResolve(fsys *rootfs.FS, p string) string {
	rel, err := fsys.Resolve(p, true)
	if err != nil {
		return p // stat will fail and the caller's MkdirAll reports the error
	}
	return rel
}

// copySkel copies the regular files and directories of skel into home (symlinks and other
// nodes are skipped), owned by the user.
func copySkel(fsys *rootfs.FS, skel, home string, own rootfs.Owner) error {
	rel, err := fsys.Resolve(skel, true)
	if err != nil {
		return err
	}
	err = fs.WalkDir(fsys.Root().FS(), rel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		sub := strings.TrimPrefix(strings.TrimPrefix(p, rel), "/")
		if sub == "" {
			return nil
		}
		dst := path.Join(home, sub)
		info, err := d.Info()
		if err != nil {
			return err
		}
		perm := info.Mode().Perm()
		switch {
		case d.IsDir():
			if _, err := fsys.MkdirAll(dst, perm); err != nil {
				return err
			}
			return fsys.SetAttrs(dst, &perm, own)
		case d.Type().IsRegular():
			data, err := fsys.Root().ReadFile(p)
			if err != nil {
				return err
			}
			return fsys.WriteFile(dst, data, perm, own)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// writeAuthorizedKeys adds keys to HOME/.ssh/authorized_keys (0700 directory, 0600 file,
// owned by the user); keys already there are kept and not repeated.
func writeAuthorizedKeys(env *Env, u accounts.User, keys []byte) error {
	own := rootfs.Owner{UID: u.UID, GID: u.GID}
	dir := path.Join(u.Home, ".ssh")
	if _, err := env.FS.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ssh keys of %s: %w", u.Name, err)
	}
	dirMode := fs.FileMode(0o700)
	if err := env.FS.SetAttrs(dir, &dirMode, own); err != nil {
		return fmt.Errorf("ssh keys of %s: %w", u.Name, err)
	}
	file := path.Join(dir, "authorized_keys")
	old, err := env.FS.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ssh keys of %s: %w", u.Name, err)
	}
	data := mergeLines(old, keys)
	if err := env.FS.WriteFile(file, data, 0o600, own); err != nil {
		return fmt.Errorf("ssh keys of %s: %w", u.Name, err)
	}
	env.logf("wrote %d ssh keys for %s", bytes.Count(keys, []byte("\n")), u.Name)
	return nil
}

// mergeLines appends the lines of add that old does not have yet.
func mergeLines(old, add []byte) []byte {
	have := map[string]bool{}
	out := append([]byte(nil), old...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	for _, l := range strings.Split(string(old), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	for _, l := range strings.Split(string(add), "\n") {
		if t := strings.TrimSpace(l); t != "" && !have[t] {
			have[t] = true
			out = append(out, l...)
			out = append(out, '\n')
		}
	}
	return out
}
