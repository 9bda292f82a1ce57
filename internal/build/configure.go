package build

import (
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/mantlet/mantlet/firstboot"
	"github.com/mantlet/mantlet/internal/spec"
	"github.com/mantlet/mantlet/internal/sysroot"
	"github.com/mantlet/mantlet/internal/tartree"
)

// configureTree puts the configuration on top of a package layer: what turns a Debian system
// into an immutable, first-boot-ready mantlet image. Nothing of it needs dpkg or a chroot: the
// edits go into the tar stream. It is a function of the tree, the plan and the first-boot
// agent; the same inputs give the same tree.
func configureTree(t *tartree.Tree, p *spec.Plan, agent []byte) error {
	epoch := time.Unix(p.SourceDateEpoch, 0)
	// The first-boot agent, its units and their enablement, the profiles' files (owners come
	// after the accounts, which their sysusers.d files and login.defs may change).
	if err := t.WriteFile(firstboot.BinaryPath, agent, 0o755, tartree.Root); err != nil {
		return fmt.Errorf("first-boot agent: %w", err)
	}
	for _, f := range firstboot.ImageFiles() {
		var err error
		if f.Symlink != "" {
			err = t.Symlink(f.Symlink, f.Path)
		} else {
			err = t.WriteFile(f.Path, f.Data, f.Mode, tartree.Root)
		}
		if err != nil {
			return fmt.Errorf("first-boot file %s: %w", f.Path, err)
		}
	}
	for _, f := range p.Files {
		if err := t.WriteFile(f.Path, f.Data, f.Mode.Perm()|f.Mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), tartree.Root); err != nil {
			return fmt.Errorf("profile file %s: %w", f.Path, err)
		}
	}

	// Accounts: Docker's userns-remap "default" runs containers as the subordinate ids of
	// dockremap, made here with a fixed range rather than by dockerd on its first start; then
	// the users and groups of every sysusers.d file, made now rather than on each boot.
	acc, err := sysroot.LoadAccounts(t, epoch)
	if err != nil {
		return err
	}
	if d := p.Docker; d != nil && d.UsernsRemap {
		u := spec.DockerRemapUser
		if _, err := acc.AddSystemGroup(u); err != nil {
			return err
		}
		if _, err := acc.AddSystemUser(sysroot.SystemUser{Name: u, Group: u, Comment: "Docker user namespaces",
			Home: "/nonexistent", Shell: "/usr/sbin/nologin"}); err != nil {
			return err
		}
		line := fmt.Sprintf("%s:%d:%d\n", u, spec.DockerSubIDStart, spec.DockerSubIDCount)
		for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
			if err := appendFile(t, f, line); err != nil {
				return err
			}
		}
	}
	if err := sysroot.Sysusers(acc); err != nil {
		return err
	}
	if err := acc.Save(); err != nil {
		return err
	}
	for _, f := range p.Files {
		o, err := acc.Owner(f.Owner)
		if err != nil {
			return fmt.Errorf("profile file %s: %w", f.Path, err)
		}
		if err := t.SetOwner(f.Path, o); err != nil {
			return fmt.Errorf("profile file %s: %w", f.Path, err)
		}
	}

	// Units: /tmp is a tmpfs (the root is read-only), then what the profiles enable, disable
	// and mask, in that order.
	tmp, err := t.ReadFile("/usr/share/systemd/tmp.mount")
	if err != nil {
		return fmt.Errorf("tmp.mount: %w", err)
	}
	if err := t.WriteFile("/etc/systemd/system/tmp.mount", tmp, 0o644, tartree.Root); err != nil {
		return err
	}
	if err := sysroot.Enable(t, append([]string{"tmp.mount"}, p.Enable...)...); err != nil {
		return err
	}
	if err := sysroot.Disable(t, p.Disable...); err != nil {
		return err
	}
	if err := sysroot.Mask(t, p.Mask...); err != nil {
		return err
	}

	// Made on first boot, never shared between machines.
	if err := removeGlob(t, "/etc/ssh", "ssh_host_*"); err != nil {
		return err
	}
	machineID := fs.FileMode(0o644)
	if i, err := t.Stat("/etc/machine-id"); err == nil {
		machineID = i.Mode
	}
	if err := t.WriteFile("/etc/machine-id", nil, machineID, tartree.Root); err != nil {
		return err
	}
	for _, f := range []string{"/var/lib/dbus/machine-id", "/etc/hostname"} {
		if err := t.RemoveAll(f); err != nil {
			return err
		}
	}

	// Writable places live on the state partition (/var), created on first boot.
	for _, d := range []string{"home", "srv"} {
		if err := t.RemoveAll("/" + d); err != nil {
			return err
		}
		if err := t.MkdirAll("/var/"+d, 0o755, tartree.Root); err != nil {
			return err
		}
		if err := t.Symlink("var/"+d, "/"+d); err != nil {
			return err
		}
	}

	// The kernel and initrd are in the UKI; logs and caches of the build are not image content.
	for _, g := range []struct{ dir, pattern string }{{"/boot", "vmlinuz-*"}, {"/boot", "initrd.img-*"},
		{"/", "vmlinuz"}, {"/", "vmlinuz.old"}, {"/", "initrd.img"}, {"/", "initrd.img.old"}} {
		if err := removeGlob(t, g.dir, g.pattern); err != nil {
			return err
		}
	}
	if t.Exists("/var/log") {
		if err := t.Walk("/var/log", func(i tartree.Info) error {
			if !i.IsRegular() {
				return nil // find /var/log -type f -delete: files only
			}
			return t.Remove(i.Path)
		}); err != nil {
			return err
		}
	}
	return t.RemoveAll("/var/cache/ldconfig/aux-cache")
}

// removeGlob removes the entries of dir whose names match pattern (not following symlinks).
func removeGlob(t *tartree.Tree, dir, pattern string) error {
	matches, err := t.Glob(dir, pattern)
	if err != nil {
		return err
	}
	for _, m := range matches {
		if err := t.RemoveAll(path.Join(dir, path.Base(m))); err != nil {
			return err
		}
	}
	return nil
}

// appendFile adds line to the file at p (made 0644 root:root when missing), as >> would.
func appendFile(t *tartree.Tree, p, line string) error {
	data, err := t.ReadFile(p)
	mode, owner := fs.FileMode(0o644), tartree.Root
	if err == nil {
		if i, err := t.Stat(p); err == nil {
			mode, owner = i.Mode, tartree.Owner{UID: i.UID, GID: i.GID}
		}
	}
	return t.WriteFile(p, append(append([]byte(nil), data...), line...), mode, owner)
}
