package audit

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// unitSetting is one key=value line of a systemd unit file.
type unitSetting struct {
	File    string // image path
	Section string // Service, Unit, Socket, Slice
	Key     string
	Value   string
}

// unitDirs are where systemd reads units, lowest priority first (an earlier one's file of the
// same name is hidden by a later one's).
var unitDirs = []string{"/usr/lib/systemd/system", "/lib/systemd/system", "/etc/systemd/system"}

// unitFiles are the files systemd reads for unit in the tree at root, in the order it applies
// them: the unit file of the highest-priority directory, then the drop-ins (*.conf in
// UNIT.d/ of every directory, a later directory's hiding an earlier one's of the same name)
// sorted by file name. Image paths; none when the tree has no such unit.
func unitFiles(root, unit string) []string {
	var main string
	dropIns := map[string]string{} // base name -> image path
	for _, dir := range unitDirs {
		if p := path.Join(dir, unit); isFile(filepath.Join(root, p)) {
			main = p
		}
		matches, _ := filepath.Glob(filepath.Join(root, dir, unit+".d", "*.conf"))
		for _, m := range matches {
			dropIns[filepath.Base(m)] = path.Join(dir, unit+".d", filepath.Base(m))
		}
	}
	if main == "" {
		return nil
	}
	names := make([]string, 0, len(dropIns))
	for n := range dropIns {
		names = append(names, n)
	}
	sort.Strings(names)
	files := []string{main}
	for _, n := range names {
		files = append(files, dropIns[n])
	}
	return files
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// readUnit reads the settings of the unit files (image paths under root) in order: comments
// and blank lines left out, continuation lines joined.
func readUnit(root string, files []string) []unitSetting {
	var out []unitSetting
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		section := ""
		sc := bufio.NewScanner(bytes.NewReader(bytes.ReplaceAll(data, []byte("\\\n"), []byte(" "))))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case line == "" || line[0] == '#' || line[0] == ';':
			case line[0] == '[' && strings.HasSuffix(line, "]"):
				section = line[1 : len(line)-1]
			default:
				k, v, ok := strings.Cut(line, "=")
				if ok {
					out = append(out, unitSetting{File: f, Section: section, Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
				}
			}
		}
	}
	return out
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
