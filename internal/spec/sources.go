package spec

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// aptSource is one "deb" entry of the build machine's apt configuration.
type aptSource struct {
	uris   []string
	suites []string
	archs  []string // empty: every architecture
}

// HostSources reads the apt sources of the build machine under root ("/" in production):
// /etc/apt/sources.list (one-line format) and /etc/apt/sources.list.d/*.list and *.sources
// (deb822), in apt's order. It returns the first http(s) URI that serves release (Debian) and
// the first that serves release-security (Security, empty when none does). deb-src entries,
// disabled stanzas, other architectures and files with other names are ignored.
func HostSources(root, release string) (*Mirror, error) {
	srcs, err := readHostSources(root)
	if err != nil {
		return nil, err
	}
	m := &Mirror{
		Debian:   serving(srcs, release),
		Security: serving(srcs, release+"-security"),
	}
	if m.Debian == "" {
		return nil, fmt.Errorf("%w: no deb source under %s serves %s for %s: set mirror.debian in the image definition",
			ErrNoSource, filepath.Join(root, "etc/apt"), release, Architectures[0])
	}
	return m, nil
}

// serving returns the first http(s) URI that serves suite for our architecture.
func serving(srcs []aptSource, suite string) string {
	for _, s := range srcs {
		if len(s.archs) > 0 && !slices.Contains(s.archs, Architectures[0]) {
			continue
		}
		if !slices.Contains(s.suites, suite) {
			continue
		}
		for _, u := range s.uris {
			if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
				return strings.TrimRight(u, "/")
			}
		}
	}
	return ""
}

func readHostSources(root string) ([]aptSource, error) {
	var srcs []aptSource
	data, err := os.ReadFile(filepath.Join(root, "etc/apt/sources.list"))
	switch {
	case err == nil:
		srcs = append(srcs, parseOneLine(data)...)
	case !os.IsNotExist(err):
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	dir := filepath.Join(root, "etc/apt/sources.list.d")
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		oneLine, deb822 := strings.HasSuffix(name, ".list"), strings.HasSuffix(name, ".sources")
		if !oneLine && !deb822 {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read apt sources: %w", err)
		}
		if oneLine {
			srcs = append(srcs, parseOneLine(data)...)
		} else {
			srcs = append(srcs, parseDeb822(data)...)
		}
	}
	return srcs, nil
}

// parseOneLine parses "deb [opt=v ...] uri suite [component...]" lines.
func parseOneLine(data []byte) []aptSource {
	var srcs []aptSource
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "deb" {
			continue
		}
		src := aptSource{}
		rest := fields[1:]
		if strings.HasPrefix(rest[0], "[") {
			// Options run to the first field that ends with "]".
			opts := strings.TrimPrefix(rest[0], "[")
			i := 0
			for !strings.HasSuffix(rest[i], "]") && i+1 < len(rest) {
				i++
				opts += " " + rest[i]
			}
			rest = rest[i+1:]
			for _, o := range strings.Fields(strings.TrimSuffix(opts, "]")) {
				if v, ok := strings.CutPrefix(o, "arch="); ok {
					src.archs = strings.Split(v, ",")
				}
			}
		}
		if len(rest) < 2 {
			continue
		}
		src.uris, src.suites = rest[:1], rest[1:2]
		srcs = append(srcs, src)
	}
	return srcs
}

// parseDeb822 parses deb822 stanzas: "Field: value" lines, continuation lines that start with
// a space or a tab, comments, stanzas apart by blank lines.
func parseDeb822(data []byte) []aptSource {
	var srcs []aptSource
	fields := map[string]string{}
	last := ""
	flush := func() {
		if len(fields) > 0 {
			if src, ok := deb822Source(fields); ok {
				srcs = append(srcs, src)
			}
		}
		fields, last = map[string]string{}, ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return srcs
}

func deb822Source(f map[string]string) (aptSource, bool) {
	if !slices.Contains(strings.Fields(f["types"]), "deb") {
		return aptSource{}, false
	}
	switch strings.ToLower(strings.TrimSpace(f["enabled"])) {
	case "no", "false", "off", "0":
		return aptSource{}, false
	}
	src := aptSource{uris: strings.Fields(f["uris"]), suites: strings.Fields(f["suites"])}
	if a := strings.Fields(f["architectures"]); len(a) > 0 {
		src.archs = a
	}
	return src, len(src.uris) > 0 && len(src.suites) > 0
}
