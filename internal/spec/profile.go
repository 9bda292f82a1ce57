package spec

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// stateDirs are image paths a profile may not place files under, with the reason.
var stateDirs = []struct{ dir, why string }{
	{"/proc", "a kernel file system, mounted at boot"},
	{"/sys", "a kernel file system, mounted at boot"},
	{"/dev", "a device file system, mounted at boot"},
	{"/run", "a tmpfs, empty at every boot"},
	{"/tmp", "a tmpfs, empty at every boot"},
	{"/var", "the state partition, created on first boot: files placed there in the image are lost; " +
		"put defaults under /etc or /usr and create /var content with a systemd-tmpfiles.d entry"},
}

// ValidateProfile checks every field of one profile (not the profiles it includes) and
// returns every problem at once. Include and source paths are checked relative to the
// profile's directory, pos.File's.
func ValidateProfile(prof *Profile, pos *Positions) (warnings, errs Errors) {
	c := &checker{pos: pos, kind: "profile"}
	dir := filepath.Dir(pos.File)
	c.name("name", prof.Name)
	for i, inc := range prof.Include {
		p := fmt.Sprintf("include[%d]", i)
		switch {
		case inc == "":
			c.errorf(p, "empty path")
		case filepath.IsAbs(inc):
			c.errorf(p, "%q is absolute: include paths are relative to this file", inc)
		default:
			c.regularFile(p, filepath.Join(dir, filepath.FromSlash(inc)), inc)
		}
	}
	c.packages("packages", prof.Packages)
	seen := map[string]int{}
	for i, f := range prof.Files {
		p := fmt.Sprintf("files[%d]", i)
		c.file(p, dir, f)
		if j, dup := seen[f.Path]; dup && f.Path != "" {
			c.errorf(p+".path", "%q is already placed by files[%d]", f.Path, j)
		}
		seen[f.Path] = i
	}
	c.services(prof.Services)
	c.cmdline("cmdline", prof.Cmdline)
	if prof.Firewall != nil {
		c.ports("firewall.tcp", prof.Firewall.TCP)
		c.ports("firewall.udp", prof.Firewall.UDP)
	}
	if a := prof.Audit; a != nil {
		c.percent("audit.cis_level1_min", a.CISLevel1Min)
		c.percent("audit.cis_level2_min", a.CISLevel2Min)
		if a.Waivers != "" {
			c.source("audit.waivers", dir, a.Waivers)
		}
	}
	if prof.Docker != nil {
		c.docker(prof.Docker)
	}
	for i, f := range prof.Files {
		if f.Path == NftablesConf && prof.Firewall != nil {
			c.errorf(fmt.Sprintf("files[%d].path", i), "%s is rendered from firewall: place no file there", NftablesConf)
		}
		// Always refused, with or without a docker section here: the one that renders it
		// may be in another profile, and a hand-written daemon.json is what the section
		// replaces.
		if slices.Contains(dockerRendered, f.Path) {
			c.errorf(fmt.Sprintf("files[%d].path", i), "%s is rendered from the docker section: set docker fields instead", f.Path)
		}
	}
	return c.done()
}

// ports checks port numbers; a port listed twice is a warning.
func (c *checker) ports(p string, ports []int) {
	seen := map[int]int{}
	for i, port := range ports {
		ip := fmt.Sprintf("%s[%d]", p, i)
		if port < 1 || port > 65535 {
			c.errorf(ip, "%d is not a port from 1 to 65535", port)
			continue
		}
		if j, dup := seen[port]; dup {
			c.warnf(ip, "port %d is already at %s[%d]", port, p, j)
		}
		seen[port] = i
	}
}

// percent checks a threshold in percent: 0 (not set) to 100.
func (c *checker) percent(p string, v int) {
	if v < 0 || v > 100 {
		c.errorf(p, "%d is not a percentage from 0 to 100", v)
	}
}

func (c *checker) file(p, dir string, f File) {
	switch {
	case f.Path == "":
		c.errorf(p+".path", "required: the absolute path in the image")
	case !strings.HasPrefix(f.Path, "/"):
		c.errorf(p+".path", "%q is not absolute", f.Path)
	case path.Clean(f.Path) != f.Path || f.Path == "/":
		c.errorf(p+".path", "%q is not a clean file path (want %q)", f.Path, path.Clean(f.Path))
	default:
		for _, s := range stateDirs {
			if f.Path == s.dir || strings.HasPrefix(f.Path, s.dir+"/") {
				c.errorf(p+".path", "%q is under %s, %s", f.Path, s.dir, s.why)
			}
		}
	}
	if f.Mode != "" {
		if m, err := parseMode(f.Mode); err != nil {
			c.errorf(p+".mode", "%v", err)
		} else if m&0o002 != 0 {
			c.warnf(p+".mode", "%s makes the file world-writable", f.Mode)
		}
	}
	if f.Owner != "" {
		user, group, ok := strings.Cut(f.Owner, ":")
		if !ok || !account.MatchString(user) || !account.MatchString(group) {
			c.errorf(p+".owner", "%q is not user:group (names or numeric ids, such as root:root)", f.Owner)
		}
	}
	switch {
	case f.Content != "" && f.Source != "":
		c.errorf(p, "both content and source are set: give exactly one")
	case f.Content == "" && f.Source == "":
		c.errorf(p, "neither content nor source is set: give exactly one")
	case f.Source != "":
		c.source(p+".source", dir, f.Source)
	}
}

// source checks a file source: relative to the file being checked (a profile or an image
// definition), inside its directory, a regular file. It reports whether all is well.
func (c *checker) source(p, dir, src string) bool {
	if filepath.IsAbs(src) || strings.HasPrefix(src, "/") {
		c.errorf(p, "%q is absolute: paths are relative to the %s", src, c.kind)
		return false
	}
	for _, part := range strings.Split(filepath.ToSlash(src), "/") {
		if part == ".." {
			c.errorf(p, "%q leaves the %s's directory (..)", src, c.kind)
			return false
		}
	}
	full := filepath.Join(dir, filepath.FromSlash(src))
	if !c.regularFile(p, full, src) {
		return false
	}
	// A symbolic link may still lead out of the directory.
	realDir, err1 := filepath.EvalSymlinks(dir)
	realSrc, err2 := filepath.EvalSymlinks(full)
	if err1 == nil && err2 == nil {
		if rel, err := filepath.Rel(realDir, realSrc); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			c.errorf(p, "%q leads out of the %s's directory through a symbolic link", src, c.kind)
			return false
		}
	}
	return true
}

// regularFile checks that full (shown as name) is a regular file.
func (c *checker) regularFile(p, full, name string) bool {
	st, err := os.Stat(full)
	switch {
	case os.IsNotExist(err):
		c.errorf(p, "%q does not exist (looked for %s)", name, full)
	case err != nil:
		c.errorf(p, "%v", err)
	case !st.Mode().IsRegular():
		c.errorf(p, "%q is not a regular file", name)
	default:
		return true
	}
	return false
}

// parseMode parses an octal file mode such as "0644" or "644", at most 07777.
func parseMode(s string) (os.FileMode, error) {
	m, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("%q is not an octal mode from 0000 to 07777, such as \"0644\"", s)
	}
	return fileMode(uint32(m)), nil
}

// fileMode converts Unix permission bits (with setuid, setgid, sticky) to an os.FileMode.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

func (c *checker) services(s Services) {
	state := map[string]string{} // unit -> the first list it is in, as a path
	for _, l := range []struct {
		name  string
		units []string
	}{{"enable", s.Enable}, {"disable", s.Disable}, {"mask", s.Mask}} {
		for i, u := range l.units {
			p := fmt.Sprintf("services.%s[%d]", l.name, i)
			if len(u) > 255 || !unitName.MatchString(u) {
				c.errorf(p, "%q is not a systemd unit name with its type (ssh.service, fstrim.timer, ...)", u)
				continue
			}
			prev, dup := state[u]
			switch {
			case !dup:
				state[u] = p
			case strings.HasPrefix(prev, "services."+l.name+"["):
				c.warnf(p, "%q is already at %s", u, prev)
			default:
				c.errorf(p, "%q is also at %s: a unit is enabled, disabled or masked, not two of them", u, prev)
			}
		}
	}
}
