package stages

import (
	"fmt"
	"strings"
)

// Install is the [Install] section of a systemd unit, as far as enabling needs it.
type Install struct {
	WantedBy        []string
	RequiredBy      []string
	UpheldBy        []string
	Alias           []string
	Also            []string
	DefaultInstance string
}

// Empty says whether the section asks for nothing (a static unit).
func (in Install) Empty() bool {
	return len(in.WantedBy)+len(in.RequiredBy)+len(in.UpheldBy)+len(in.Alias)+len(in.Also) == 0
}

// ParseInstall reads the [Install] section of a unit file: comments (# and ;), line
// continuations (a trailing backslash), list values split on white space, an empty
// assignment resetting a list. Other sections are skipped.
func ParseInstall(contents string) (Install, error) {
	var in Install
	section := ""
	lines := strings.Split(strings.ReplaceAll(contents, "\r\n", "\n"), "\n")
	for n := 0; n < len(lines); n++ {
		lineNo := n + 1
		line := strings.TrimSpace(lines[n])
		for strings.HasSuffix(line, `\`) && n+1 < len(lines) {
			n++
			next := strings.TrimSpace(lines[n])
			if strings.HasPrefix(next, "#") || strings.HasPrefix(next, ";") {
				next = ""
			}
			line = strings.TrimSuffix(line, `\`) + " " + next
		}
		line = strings.TrimSpace(strings.TrimSuffix(line, `\`))
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return Install{}, fmt.Errorf("line %d: bad section header", lineNo)
			}
			section = line[1 : len(line)-1]
			continue
		}
		if section != "Install" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return Install{}, fmt.Errorf("line %d: want key=value", lineNo)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if strings.Contains(value, "%") {
			return Install{}, fmt.Errorf("line %d: %s: unit specifiers are not supported", lineNo, key)
		}
		switch key {
		case "WantedBy":
			in.WantedBy = list(in.WantedBy, value)
		case "RequiredBy":
			in.RequiredBy = list(in.RequiredBy, value)
		case "UpheldBy":
			in.UpheldBy = list(in.UpheldBy, value)
		case "Alias":
			in.Alias = list(in.Alias, value)
		case "Also":
			in.Also = list(in.Also, value)
		case "DefaultInstance":
			in.DefaultInstance = value
		default:
			return Install{}, fmt.Errorf("line %d: unknown [Install] key %s", lineNo, key)
		}
	}
	if strings.ContainsAny(in.DefaultInstance, "/\x00") {
		return Install{}, fmt.Errorf("DefaultInstance %q: not part of a file name", in.DefaultInstance)
	}
	for _, names := range [][]string{in.WantedBy, in.RequiredBy, in.UpheldBy, in.Alias, in.Also} {
		for _, name := range names {
			if err := checkUnitName(name); err != nil {
				return Install{}, err
			}
		}
	}
	return in, nil
}

func list(have []string, value string) []string {
	if value == "" {
		return nil
	}
	return append(have, strings.Fields(value)...)
}

// checkUnitName refuses names that are not one path component.
func checkUnitName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("unit name %q: not a file name", name)
	}
	if !strings.Contains(name, ".") {
		return fmt.Errorf("unit name %q: no type suffix", name)
	}
	return nil
}

// templateOf gives the template of an instance name (foo@bar.service -> foo@.service) and
// the instance; ok is false for names that are not instances.
func templateOf(name string) (template, instance string, ok bool) {
	at := strings.Index(name, "@")
	dot := strings.LastIndex(name, ".")
	if at < 0 || dot < at {
		return "", "", false
	}
	return name[:at+1] + name[dot:], name[at+1 : dot], true
}
