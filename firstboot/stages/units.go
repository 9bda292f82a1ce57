package stages

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/coreos/ignition/v2/config/v3_6/types"
	"github.com/mantlet/mantlet/firstboot/config"
	"github.com/mantlet/mantlet/firstboot/rootfs"
)

func init() { Register(30, unitsStage{}) }

// EtcUnitDir is where units from a config are written and enablement symlinks are made.
const EtcUnitDir = "/etc/systemd/system"

// unitDirs is systemd's search path for system units on Debian 12, most important first
// (systemd-analyze unit-paths without /run): /lib before /usr/lib, so that in a merged-/usr
// image the links name /lib/systemd/system/..., as systemctl's do.
var unitDirs = []string{EtcUnitDir, "/usr/local/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}

// unitsStage writes systemd.units: unit files, drop-ins, masks, and the symlinks that
// enable or disable a unit, made from its [Install] section without systemctl.
type unitsStage struct{}

func (unitsStage) Name() string { return "units" }

type unitPlan struct {
	at     string
	unit   types.Unit
	links  []symlink // to create (enable) or remove (disable)
	enable bool
}

type symlink struct{ path, target string }

func (unitsStage) Prepare(ctx context.Context, env *Env, cfg types.Config) (Action, error) {
	if len(cfg.Systemd.Units) == 0 {
		return nil, nil
	}
	finder, err := newUnitFinder(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	var plans []unitPlan
	for i, u := range cfg.Systemd.Units {
		p := unitPlan{at: config.Path("systemd", "units", i), unit: u}
		if err := checkUnitName(u.Name); err != nil {
			return nil, fmt.Errorf("%s.name: %w", p.at, err)
		}
		for j, d := range u.Dropins {
			if err := checkUnitName(d.Name); err != nil {
				return nil, fmt.Errorf("%s.dropins[%d].name: %w", p.at, j, err)
			}
		}
		masked := isTrue(u.Mask)
		if masked && (u.Contents != nil || isTrue(u.Enabled)) {
			return nil, fmt.Errorf("%s.mask: a masked unit cannot have contents or be enabled", p.at)
		}
		if u.Enabled != nil {
			p.enable = *u.Enabled
			p.links, err = finder.links(u.Name, p.enable)
			if err != nil {
				return nil, fmt.Errorf("%s.enabled: %w", p.at, err)
			}
		}
		plans = append(plans, p)
	}
	return func(context.Context) error {
		for _, p := range plans {
			if err := p.apply(env); err != nil {
				return fmt.Errorf("%s: %w", p.at, err)
			}
		}
		env.logf("stage units: %d units", len(plans))
		return nil
	}, nil
}

func (p unitPlan) apply(env *Env) error {
	u := p.unit
	unitPath := path.Join(EtcUnitDir, u.Name)
	if u.Contents != nil {
		if err := env.FS.WriteFile(unitPath, []byte(*u.Contents), 0o644, rootfs.NoOwner); err != nil {
			return err
		}
	}
	for _, d := range u.Dropins {
		if d.Contents == nil {
			continue
		}
		dp := path.Join(EtcUnitDir, u.Name+".d", d.Name)
		if err := env.FS.WriteFile(dp, []byte(*d.Contents), 0o644, rootfs.NoOwner); err != nil {
			return err
		}
	}
	switch {
	case isTrue(u.Mask):
		if err := env.FS.Symlink(unitPath, "/dev/null", rootfs.NoOwner); err != nil {
			return err
		}
	case u.Mask != nil:
		if err := unmask(env, unitPath); err != nil {
			return err
		}
	}
	for _, l := range p.links {
		var err error
		if p.enable {
			err = env.FS.Symlink(l.path, l.target, rootfs.NoOwner)
		} else {
			err = removeSymlink(env, l.path)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// removeSymlink removes the node at p if it is a symlink.
func removeSymlink(env *Env, p string) error {
	fi, err := env.FS.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode()&fs.ModeSymlink == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	return env.FS.RemoveAll(p)
}

// unmask removes a mask symlink, and only that.
func unmask(env *Env, unitPath string) error {
	fi, err := env.FS.Lstat(unitPath)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode()&fs.ModeSymlink == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	rel, err := env.FS.Resolve(unitPath, false)
	if err != nil {
		return err
	}
	if target, err := env.FS.Root().Readlink(rel); err != nil || target != "/dev/null" {
		return err
	}
	return env.FS.RemoveAll(unitPath)
}

// unitFiles maps a path of a unit file to the contents the config gives it.
type unitFiles map[string][]byte

// configUnitFiles collects the unit files the config itself writes: units with contents
// and storage files in the unit directories.
func configUnitFiles(ctx context.Context, env *Env, cfg types.Config) (unitFiles, error) {
	files := unitFiles{}
	for i, f := range cfg.Storage.Files {
		if !inUnitDir(f.Path) {
			continue
		}
		b, err := env.contents(ctx, f.Contents)
		if err != nil {
			return nil, fmt.Errorf("%s.contents: %w", config.Path("storage", "files", i), err)
		}
		files[f.Path] = b
	}
	for _, u := range cfg.Systemd.Units {
		if u.Contents != nil {
			files[path.Join(EtcUnitDir, u.Name)] = []byte(*u.Contents)
		}
	}
	return files, nil
}

func inUnitDir(p string) bool {
	for _, d := range unitDirs {
		if path.Dir(p) == d {
			return true
		}
	}
	return false
}
