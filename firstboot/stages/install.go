package stages

import (
	"fmt"
	"strings"

	"github.com/coreos/go-systemd/v22/unit"
)

// Install is the [Install] section of a systemd unit, as far as enabling needs it.
type Install struct {
	WantedBy        []string
	RequiredBy      []string
	Alias           []string
	Also            []string
	DefaultInstance string
}

// Empty says whether the section asks for nothing (a static unit).
func (in Install) Empty() bool {
	return len(in.WantedBy)+len(in.RequiredBy)+len(in.Alias)+len(in.Also) == 0
}

// ParseInstall reads the [Install] section of a unit file, parsed as systemd does with
// github.com/coreos/go-systemd/v22/unit (comments, continuation lines, sections): list values
// split on white space, an empty assignment resetting a list. Other sections are skipped;
// unit specifiers (%i...) and keys enabling does not know are refused.
func ParseInstall(contents string) (Install, error) {
	var in Install
	opts, err := unit.DeserializeOptions(strings.NewReader(contents))
	if err != nil {
		return Install{}, err
	}
	for _, o := range opts {
		if o.Section != "Install" {
			continue
		}
		// go-systemd keeps a continuation's backslash and newline; systemd reads a space
		key, value := o.Name, strings.TrimSpace(strings.ReplaceAll(o.Value, "\\\n", " "))
		if strings.Contains(value, "%") {
			return Install{}, fmt.Errorf("%s: unit specifiers are not supported", key)
		}
		switch key {
		case "WantedBy":
			in.WantedBy = list(in.WantedBy, value)
		case "RequiredBy":
			in.RequiredBy = list(in.RequiredBy, value)
		case "UpheldBy":
			// systemd 252 (Debian 12) does not know it: the link would do nothing
			return Install{}, fmt.Errorf("UpheldBy= is not supported by the image's systemd (252)")
		case "Alias":
			in.Alias = list(in.Alias, value)
		case "Also":
			in.Also = list(in.Also, value)
		case "DefaultInstance":
			in.DefaultInstance = value
		default:
			return Install{}, fmt.Errorf("unknown [Install] key %s", key)
		}
	}
	if strings.ContainsAny(in.DefaultInstance, "/\x00") {
		return Install{}, fmt.Errorf("DefaultInstance %q: not part of a file name", in.DefaultInstance)
	}
	for _, names := range [][]string{in.WantedBy, in.RequiredBy, in.Alias, in.Also} {
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
