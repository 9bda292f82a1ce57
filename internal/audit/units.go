package audit

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
)

// unitSetting is one key=value line of a systemd unit file.
type unitSetting struct {
	File    string // image path
	Section string // Service, Unit, Socket, Slice
	Key     string
	Value   string
}

// unitDirs are where systemd 252 of Debian 12 reads units offline, highest priority first
// (a unit file of an earlier directory hides one of the same name in a later one; /lib is
// /usr/lib in a merged-/usr image).
var unitDirs = []string{"/etc/systemd/system", "/usr/local/lib/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}

// unitFiles are the files systemd reads for unit in the image, in the order it applies
// them: the unit file of the highest-priority directory, then the drop-ins (*.conf in
// UNIT.d/ of every directory, a higher directory's hiding a lower one's of the same name,
// one that is masked hiding it without replacing it) sorted by file name. Image paths;
// none when the image has no such unit. masked is the path of the mask (a symlink to
// /dev/null or an empty file) when the unit is masked: systemd then loads no file of it.
func unitFiles(im *image, name string) (files []string, masked string) {
	var main string
	for _, dir := range unitDirs {
		p := join(dir, name)
		if !im.exists(p) {
			continue
		}
		if isMask(im, p) {
			return nil, p
		}
		if im.isFile(p) {
			main = p
			break
		}
	}
	if main == "" {
		return nil, ""
	}
	dropIns := map[string]string{} // base name -> image path; "" when masked
	for i := len(unitDirs) - 1; i >= 0; i-- {
		dir := join(unitDirs[i], name+".d")
		for _, n := range im.names(dir) {
			p := join(dir, n)
			if !strings.HasSuffix(n, ".conf") {
				continue
			}
			switch {
			case isMask(im, p):
				dropIns[n] = ""
			case im.isFile(p):
				dropIns[n] = p
			}
		}
	}
	names := make([]string, 0, len(dropIns))
	for n, p := range dropIns {
		if p != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	files = []string{main}
	for _, n := range names {
		files = append(files, dropIns[n])
	}
	return files, ""
}

// isMask reports whether the file at p masks what it names: a symlink to /dev/null, or an
// empty file (systemd treats both so).
func isMask(im *image, p string) bool {
	if im.isDevNull(p) {
		return true
	}
	fi, err := im.stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == 0
}

// readUnit reads the settings of the unit files (image paths) in order, parsed as systemd
// does (github.com/coreos/go-systemd/v22/unit: comments, continuation lines, quoting left
// as it is). A file that cannot be read or parsed is a problem of its own.
func readUnit(im *image, files []string) ([]unitSetting, []Finding) {
	var out []unitSetting
	var problems []Finding
	for _, f := range files {
		data, err := im.readFile(f)
		if err != nil {
			problems = append(problems, Finding{Check: "units", Subject: f, Msg: err.Error()})
			continue
		}
		opts, err := unit.DeserializeOptions(bytes.NewReader(data))
		if err != nil {
			problems = append(problems, Finding{Check: "units", Subject: f, Msg: fmt.Sprintf("cannot be parsed: %v", err)})
			continue
		}
		for _, o := range opts {
			// go-systemd keeps a continuation's backslash and newline; systemd reads a space
			v := strings.TrimSpace(strings.ReplaceAll(o.Value, "\\\n", " "))
			out = append(out, unitSetting{File: f, Section: o.Section, Key: o.Name, Value: v})
		}
	}
	return out, problems
}

// effective is the value list of a setting as systemd ends up with it: every assignment adds
// a value, an empty one clears the list (ExecStart=, ListenStream=); for a single-valued
// setting (MemoryMax=) the last value counts.
func effective(settings []unitSetting, section, key string) []unitSetting {
	var vals []unitSetting
	for _, s := range settings {
		if s.Section != section || s.Key != key {
			continue
		}
		if s.Value == "" {
			vals = nil
			continue
		}
		vals = append(vals, s)
	}
	return vals
}
