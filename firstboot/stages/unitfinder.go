package stages

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6/types"
)

// ErrUnitNotFound reports a unit to enable that neither the config nor the image has.
var ErrUnitNotFound = errors.New("unit file not found")

// unitFinder finds unit files in the config and in the root, in systemd's search order.
type unitFinder struct {
	env    *Env
	config unitFiles
}

func newUnitFinder(ctx context.Context, env *Env, cfg types.Config) (*unitFinder, error) {
	files, err := configUnitFiles(ctx, env, cfg)
	if err != nil {
		return nil, err
	}
	return &unitFinder{env: env, config: files}, nil
}

// find returns where a unit's file is (the template's, for an instance) and its contents.
func (f *unitFinder) find(name string) (string, string, error) {
	names := []string{name}
	if tmpl, _, ok := templateOf(name); ok && tmpl != name {
		names = append(names, tmpl)
	}
	for _, n := range names {
		for _, dir := range unitDirs {
			p := path.Join(dir, n)
			if b, ok := f.config[p]; ok {
				return p, string(b), nil
			}
			b, err := f.env.FS.ReadFile(p)
			if err == nil {
				return p, string(b), nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", "", err
			}
		}
	}
	return "", "", fmt.Errorf("%s: %w", name, ErrUnitNotFound)
}

// links lists the symlinks that enable the unit (from its [Install] section, following
// Also=). When disabling, a unit with no file has nothing to remove.
func (f *unitFinder) links(name string, enable bool) ([]symlink, error) {
	var out []symlink
	seen := map[string]bool{}
	var walk func(name string, top bool) error
	walk = func(name string, top bool) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		unitPath, contents, err := f.find(name)
		if errors.Is(err, ErrUnitNotFound) && !enable {
			return nil
		}
		if err != nil {
			return err
		}
		in, err := ParseInstall(contents)
		if err != nil {
			return fmt.Errorf("%s: [Install]: %w", unitPath, err)
		}
		if in.Empty() && top && enable {
			return fmt.Errorf("%s: no [Install] section says how to enable it", unitPath)
		}
		linkName := name
		if tmpl, inst, ok := templateOf(name); ok && inst == "" {
			if in.DefaultInstance == "" && !in.Empty() {
				return fmt.Errorf("%s: a template needs an instance or DefaultInstance=", name)
			}
			linkName = strings.TrimSuffix(tmpl, path.Ext(tmpl)) + in.DefaultInstance + path.Ext(tmpl)
		}
		for _, dep := range []struct {
			suffix string
			units  []string
		}{{".wants", in.WantedBy}, {".requires", in.RequiredBy}} {
			for _, t := range dep.units {
				out = append(out, symlink{path.Join(EtcUnitDir, t+dep.suffix, linkName), unitPath})
			}
		}
		for _, a := range in.Alias {
			if p := path.Join(EtcUnitDir, a); p != unitPath {
				out = append(out, symlink{p, unitPath})
			}
		}
		for _, also := range in.Also {
			if err := walk(also, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(name, true); err != nil {
		return nil, err
	}
	return out, nil
}
