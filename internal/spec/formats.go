package spec

import (
	"fmt"
	"slices"
	"strings"
)

// Formats are the disk image formats mantlet writes.
var Formats = []string{"raw", "qcow2", "vmdk", "vhd"}

// DefaultFormats are written when the image definition names none.
var DefaultFormats = []string{"raw", "qcow2"}

// checkFormats checks a list of formats: at least one, each known, none twice. The paths of
// the problems are relative to the list ("[1]").
func checkFormats(formats []string) Errors {
	var errs Errors
	if len(formats) == 0 {
		return Errors{{Msg: fmt.Sprintf("at least one format is required (%s)", strings.Join(Formats, ", "))}}
	}
	seen := map[string]int{}
	for i, f := range formats {
		p := fmt.Sprintf("[%d]", i)
		if j, dup := seen[f]; dup {
			errs = append(errs, FieldError{Path: p, Msg: fmt.Sprintf("%q is already at [%d]", f, j)})
			continue
		}
		seen[f] = i
		if !slices.Contains(Formats, f) {
			errs = append(errs, FieldError{Path: p, Msg: fmt.Sprintf("%q is not a format (%s)", f, strings.Join(Formats, ", "))})
		}
	}
	return errs
}

// ParseFormats parses a comma-separated list of formats, as given to --format, and checks it
// like the formats of an image definition.
func ParseFormats(list string) ([]string, error) {
	var formats []string
	for f := range strings.SplitSeq(list, ",") {
		formats = append(formats, strings.TrimSpace(f))
	}
	if strings.TrimSpace(list) == "" {
		formats = nil
	}
	errs := checkFormats(formats)
	for i := range errs {
		errs[i].Path = "--format" + errs[i].Path
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return formats, nil
}

// SetFormats replaces the plan's formats with a comma-separated list from the command line
// (--format raw,qcow2), checked like the image definition's. On error the plan is unchanged.
func (p *Plan) SetFormats(list string) error {
	formats, err := ParseFormats(list)
	if err != nil {
		return err
	}
	p.Formats = formats
	return nil
}
