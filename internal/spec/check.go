package spec

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// checker collects the errors and warnings of one file.
type checker struct {
	pos   *Positions
	kind  string // "image definition" or "profile": what relative paths are relative to
	errs  Errors
	warns Errors
}

func (c *checker) errorf(p, format string, args ...any) {
	c.errs = append(c.errs, FieldError{File: c.pos.File, Line: c.pos.Line(p), Path: p, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(p, format string, args ...any) {
	c.warns = append(c.warns, FieldError{File: c.pos.File, Line: c.pos.Line(p), Path: p, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) done() (warnings, errs Errors) {
	c.warns.sortByLine()
	c.errs.sortByLine()
	return c.warns, c.errs
}

var (
	// safeName is a name that is also a safe file name: out/NAME.raw.
	safeName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	// debPackage is a Debian package name (Debian policy 5.6.1).
	debPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	// kernelModule is a kernel module name; '-' and '_' are the same to modprobe.
	kernelModule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	// unitName is a systemd unit name: prefix, optional @instance, and a unit type suffix.
	unitName = regexp.MustCompile(`^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|socket|timer|target|mount|automount|path|swap|slice|device)$`)
	// account is a user or group name (Debian's adduser NAME_REGEX) or a numeric id.
	account = regexp.MustCompile(`^([a-z_][a-z0-9_-]*\$?|[0-9]+)$`)
)

func (c *checker) name(p, name string) {
	switch {
	case name == "":
		c.errorf(p, "required")
	case len(name) > 64:
		c.errorf(p, "%q is longer than 64 characters", name)
	case !safeName.MatchString(name):
		c.errorf(p, "%q is not a safe name: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", name)
	}
}

// packages checks package names; a package listed twice is a warning.
func (c *checker) packages(p string, pkgs []string) {
	seen := map[string]int{}
	for i, pkg := range pkgs {
		ip := fmt.Sprintf("%s[%d]", p, i)
		if !debPackage.MatchString(pkg) {
			c.errorf(ip, "%q is not a Debian package name (lower-case letters, digits, '+', '-', '.'; at least 2 characters)", pkg)
			continue
		}
		if j, dup := seen[pkg]; dup {
			c.warnf(ip, "package %q is already listed at %s[%d]", pkg, p, j)
			continue
		}
		seen[pkg] = i
	}
}

// buildOwnedArgs are kernel command line keys the build writes itself.
var buildOwnedArgs = []string{"root", "roothash", "mantlet.verity"}

func (c *checker) cmdline(p string, args []string) {
	seen := map[string]int{}
	for i, arg := range args {
		ip := fmt.Sprintf("%s[%d]", p, i)
		if arg == "" {
			c.errorf(ip, "empty argument")
			continue
		}
		if strings.ContainsAny(arg, " \t\r\n\v\f\"'`") {
			c.errorf(ip, "%q has whitespace or quotes: write one argument per entry, unquoted", arg)
			continue
		}
		key, _, _ := strings.Cut(arg, "=")
		for _, owned := range buildOwnedArgs {
			if key == owned || strings.HasPrefix(key, owned+".") {
				c.errorf(ip, "%s= is set by the build (the verity root), not by the definition", owned)
			}
		}
		if j, dup := seen[arg]; dup {
			c.warnf(ip, "%q is already at %s[%d]", arg, p, j)
		}
		seen[arg] = i
	}
}

// httpURL checks a mirror URL: http or https with a host, no credentials, no query.
func (c *checker) httpURL(p, raw string) {
	u, err := url.Parse(raw)
	switch {
	case strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		c.errorf(p, "%q has whitespace or control characters", raw)
	case err != nil:
		c.errorf(p, "not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		c.errorf(p, "%q: the scheme must be http or https", raw)
	case u.Host == "" || u.Hostname() == "":
		c.errorf(p, "%q has no host", raw)
	case u.User != nil:
		c.errorf(p, "credentials in the URL: never put them in the definition; use apt auth.conf on the build machine")
	case u.RawQuery != "" || u.ForceQuery:
		c.errorf(p, "%q has a query; a mirror URL has none", raw)
	case u.Fragment != "":
		c.errorf(p, "%q has a fragment; a mirror URL has none", raw)
	}
}

// absGlobs checks dpkg path globs: absolute, a valid pattern, one line.
func (c *checker) absGlobs(p string, globs []string) {
	for i, g := range globs {
		ip := fmt.Sprintf("%s[%d]", p, i)
		switch {
		case !strings.HasPrefix(g, "/"):
			c.errorf(ip, "%q is not absolute: a glob starts with /", g)
		case strings.ContainsAny(g, "\n\r"):
			c.errorf(ip, "a glob is one line")
		default:
			if _, err := path.Match(g, ""); err != nil {
				c.errorf(ip, "%q is not a valid glob: %v", g, err)
			}
		}
	}
}
