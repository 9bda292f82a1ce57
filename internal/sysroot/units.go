// Package sysroot makes the changes to a root tree that systemd's and shadow's tools make
// offline (systemctl enable, disable and mask; groupadd and useradd of system accounts;
// systemd-sysusers), on a tartree.Tree: no chroot, no tool of the build machine, the same
// result from the same tree. Tests hold each operation against the real tool.
package sysroot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"

	"github.com/mantlet/mantlet/internal/tartree"
)

// configDir is where systemctl writes: the administrator's unit directory.
const configDir = "/etc/systemd/system"

// unitPath is systemd's search path for system units, in order, as Debian 12's systemctl
// looks them up (it writes symlinks to a unit where it found it first).
var unitPath = []string{
	"/etc/systemd/system",
	"/run/systemd/system",
	"/usr/local/lib/systemd/system",
	"/lib/systemd/system",
	"/usr/lib/systemd/system",
}

// unitFile is a unit found in the search path.
type unitFile struct {
	name string // the unit's own name: the file's, after following an alias symlink
	path string // where systemctl found it: the symlinks point here
}

// findUnit looks name up in the search path. A symlink there is an alias: the unit is what
// it points to. A symlink to /dev/null is a masked unit.
func findUnit(t *tartree.Tree, name string) (unitFile, error) {
	lookup := name
	if tmpl, _, ok := splitInstance(name); ok {
		lookup = tmpl // foo@bar.service is an instance of the template foo@.service
	}
	for _, dir := range unitPath {
		p := dir + "/" + lookup
		i, err := t.Lstat(p)
		if err != nil {
			continue
		}
		if !i.IsSymlink() {
			return unitFile{name: name, path: p}, nil
		}
		if i.Linkname == "/dev/null" {
			return unitFile{}, fmt.Errorf("unit %s is masked (%s links to /dev/null)", name, p)
		}
		target := i.Linkname
		if !strings.HasPrefix(target, "/") {
			target = path.Join(dir, target)
		}
		if _, err := t.Stat(target); err != nil {
			return unitFile{}, fmt.Errorf("unit %s: %s links to %s, which does not exist", name, p, i.Linkname)
		}
		real := path.Base(target)
		if _, inst, ok := splitInstance(name); ok && inst != "" {
			if rt, _, ok := splitInstance(real); ok {
				real = instanceOf(rt, inst)
			}
		}
		return unitFile{name: real, path: target}, nil
	}
	return unitFile{}, fmt.Errorf("unit %s: no unit file in %s", name, strings.Join(unitPath, ", "))
}

// splitInstance splits foo@bar.service into the template foo@.service and bar; ok is false
// for a unit that is no template or instance.
func splitInstance(name string) (template, instance string, ok bool) {
	at := strings.IndexByte(name, '@')
	dot := strings.LastIndexByte(name, '.')
	if at < 0 || dot < at {
		return "", "", false
	}
	return name[:at+1] + name[dot:], name[at+1 : dot], true
}

func instanceOf(template, instance string) string {
	at := strings.IndexByte(template, '@')
	return template[:at+1] + instance + template[at+1:]
}

// install is a unit file's [Install] section, what systemctl of systemd 252 reads of it.
type install struct {
	wantedBy, requiredBy, alias, also []string
	defaultInstance                   string
}

// parseInstall reads the [Install] section: lists accumulate over lines, an empty assignment
// empties one, comments and line continuations as systemd reads them.
func parseInstall(data []byte) install {
	var in install
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cont string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			section = strings.Trim(line, "[]")
			continue
		}
		if section != "Install" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		list := map[string]*[]string{"WantedBy": &in.wantedBy, "RequiredBy": &in.requiredBy,
			"Alias": &in.alias, "Also": &in.also}[k]
		switch {
		case list != nil && v == "":
			*list = nil
		case list != nil:
			*list = append(*list, strings.Fields(v)...)
		case k == "DefaultInstance":
			in.defaultInstance = v
		}
	}
	return in
}

// expand replaces the specifiers systemd allows in [Install] that depend on the unit's name;
// any other is refused.
func expand(s, unit string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	prefix, inst := strings.TrimSuffix(unit, path.Ext(unit)), ""
	if t, i, ok := splitInstance(unit); ok {
		prefix, inst = strings.TrimSuffix(t[:strings.IndexByte(t, '@')], "@"), i
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteString(unit)
		case 'N':
			b.WriteString(strings.TrimSuffix(unit, path.Ext(unit)))
		case 'p':
			b.WriteString(prefix)
		case 'i':
			b.WriteString(inst)
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("specifier %%%c is not supported in [Install] at build time", s[i])
		}
	}
	return b.String(), nil
}

// Enable does what systemctl enable (systemd 252) does with the units: for each (and each it
// names in Also=), the symlinks of its [Install] section in /etc/systemd/system:
// TARGET.wants/UNIT for WantedBy=, .requires for RequiredBy=, and one for every Alias=.
// A template is enabled with its DefaultInstance=, a unit without [Install] is left alone
// with a warning, as systemctl does.
func Enable(t *tartree.Tree, units ...string) error {
	done := map[string]bool{}
	var enable func(name, via string) error
	enable = func(name, via string) error {
		if done[name] {
			return nil
		}
		done[name] = true
		u, err := findUnit(t, name)
		if err != nil {
			if via != "" {
				return fmt.Errorf("%s (named in Also= of %s)", err, via)
			}
			return err
		}
		data, err := t.ReadFile(u.path)
		if err != nil {
			return fmt.Errorf("unit %s: %w", name, err)
		}
		in := parseInstall(data)
		inst := u.name
		if tmpl, i, ok := splitInstance(u.name); ok && i == "" {
			if in.defaultInstance == "" {
				if len(in.wantedBy)+len(in.requiredBy) > 0 {
					slog.Warn("systemctl enable: a template without DefaultInstance= needs an instance", "unit", name)
				}
				inst = ""
			} else {
				inst = instanceOf(tmpl, in.defaultInstance)
			}
		}
		if len(in.wantedBy)+len(in.requiredBy)+len(in.alias)+len(in.also) == 0 {
			slog.Warn("systemctl enable: the unit has no [Install] section; nothing to enable", "unit", name)
		}
		if inst != "" {
			for _, dep := range []struct {
				suffix string
				list   []string
			}{{".wants", in.wantedBy}, {".requires", in.requiredBy}} {
				for _, target := range dep.list {
					target, err := expand(target, inst)
					if err != nil {
						return fmt.Errorf("unit %s: %w", name, err)
					}
					if err := link(t, configDir+"/"+target+dep.suffix+"/"+inst, u.path); err != nil {
						return err
					}
				}
			}
		}
		for _, a := range in.alias {
			a, err := expand(a, u.name)
			if err != nil {
				return fmt.Errorf("unit %s: %w", name, err)
			}
			if a == path.Base(u.path) && path.Dir(u.path) == configDir {
				continue // the unit's own file
			}
			if err := link(t, configDir+"/"+a, u.path); err != nil {
				return err
			}
		}
		for _, also := range in.also {
			if err := enable(also, name); err != nil {
				return err
			}
		}
		return nil
	}
	for _, u := range units {
		if err := enable(u, ""); err != nil {
			return fmt.Errorf("systemctl enable %s: %w", u, err)
		}
	}
	return nil
}

// link makes the symlink at p to target, as systemctl does: an identical one is kept, anything
// else there is a conflict.
func link(t *tartree.Tree, p, target string) error {
	if i, err := t.Lstat(p); err == nil {
		if i.IsSymlink() && i.Linkname == target {
			return nil
		}
		what := "a file"
		if i.IsSymlink() {
			what = "a symlink to " + i.Linkname
		}
		return fmt.Errorf("%s already exists and is %s", p, what)
	}
	return t.Symlink(target, p)
}

// Disable does what systemctl disable does: it removes every symlink in /etc/systemd/system
// (and its .wants and .requires directories) named like the unit, one of its aliases
// or an instance of it, or pointing at its unit file; the same for the units of its Also=.
func Disable(t *tartree.Tree, units ...string) error {
	names := map[string]bool{}
	targets := map[string]bool{}
	var mark func(name string) error
	mark = func(name string) error {
		if names[name] {
			return nil
		}
		names[name] = true
		u, err := findUnit(t, name)
		if err != nil {
			return nil // nothing to follow: links named like it still go
		}
		names[u.name] = true
		targets[u.path] = true
		data, err := t.ReadFile(u.path)
		if err != nil {
			return fmt.Errorf("unit %s: %w", name, err)
		}
		in := parseInstall(data)
		for _, a := range in.alias {
			if a, err = expand(a, u.name); err != nil {
				return fmt.Errorf("unit %s: %w", name, err)
			}
			names[a] = true
		}
		for _, also := range in.also {
			if err := mark(also); err != nil {
				return err
			}
		}
		return nil
	}
	for _, u := range units {
		if err := mark(u); err != nil {
			return fmt.Errorf("systemctl disable %s: %w", u, err)
		}
	}
	if _, err := t.Lstat(configDir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return t.Walk(configDir, func(i tartree.Info) error {
		if !i.IsSymlink() {
			return nil
		}
		base := path.Base(i.Path)
		match := names[base] || targets[i.Linkname] || names[path.Base(i.Linkname)]
		if tmpl, _, ok := splitInstance(base); ok && names[tmpl] {
			match = true
		}
		if i.Linkname == "/dev/null" {
			match = false // masks are left to unmask
		}
		if match {
			return t.Remove(i.Path)
		}
		return nil
	})
}

// Mask does what systemctl mask does: /etc/systemd/system/UNIT links to /dev/null. A unit file
// of the administrator's there is a conflict.
func Mask(t *tartree.Tree, units ...string) error {
	for _, u := range units {
		p := configDir + "/" + u
		if i, err := t.Lstat(p); err == nil {
			if i.IsSymlink() && i.Linkname == "/dev/null" {
				continue
			}
			if !i.IsSymlink() {
				return fmt.Errorf("systemctl mask %s: %s is a unit file, not a link", u, p)
			}
			if err := t.Remove(p); err != nil {
				return err
			}
		}
		if err := t.Symlink("/dev/null", p); err != nil {
			return fmt.Errorf("systemctl mask %s: %w", u, err)
		}
	}
	return nil
}
