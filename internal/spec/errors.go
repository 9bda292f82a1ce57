package spec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel errors of the package. Every validation failure matches ErrInvalid with errors.Is.
var (
	// ErrInvalid is matched by an Errors value: the input breaks one or more rules.
	ErrInvalid = errors.New("invalid definition")
	// ErrSize is wrapped by every error of ParseSize.
	ErrSize = errors.New("invalid size")
	// ErrNoSource means no apt source of the build machine serves the release.
	ErrNoSource = errors.New("no apt source serves the release")
	// ErrNotDeb is wrapped by ReadDeb when a file is not a Debian package.
	ErrNotDeb = errors.New("not a Debian package")
)

// FieldError is one problem found in one file: the field path (kernel.initrd_modules[3]) and
// the line of that field, or of its nearest parent when the field is missing.
type FieldError struct {
	File string
	Line int
	Path string
	Msg  string
}

// Error formats the problem as file:line: path: msg, leaving out what is unknown.
func (e FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors lists every problem found, one per line. It is also the type of warnings, which
// are returned apart from errors.
type Errors []FieldError

// Error lists the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true for any Errors value.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// Err returns es as an error, or nil when es is empty (never a typed nil).
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// sortByLine orders the problems of one file by line, keeping the order of equal lines.
func (es Errors) sortByLine() {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
}

// asErrors returns the problems in err when it is an Errors value.
func asErrors(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	return nil, false
}
