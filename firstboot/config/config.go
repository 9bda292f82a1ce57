// Package config parses and checks Ignition configs for mantlet-firstboot: spec 3.0 to 3.6,
// translated up to 3.6 by the ignition config packages, then checked against what the agent
// implements. Every problem names its JSON path, e.g. $.storage.files[3].contents.source.
package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6"
	"github.com/coreos/ignition/v2/config/v3_6/types"
	vjson "github.com/coreos/vcontext/json"
	"github.com/coreos/vcontext/path"
	"github.com/coreos/vcontext/report"
)

// Config is the parsed config, at spec 3.6.
type Config = types.Config

// Severity of a Problem.
type Severity int

const (
	Error Severity = iota
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Problem is one finding about a config. Messages never quote file contents.
type Problem struct {
	Severity Severity
	Path     string // JSON path such as $.storage.files[3].contents.source; "$" for the whole config
	Line     int    // 1-based line in the config, 0 if unknown
	Column   int
	Message  string

	at []any // the path's elements, for finding the line and column
}

func (p Problem) String() string {
	at := p.Path
	if p.Line > 0 {
		at += fmt.Sprintf(" (line %d col %d)", p.Line, p.Column)
	}
	return fmt.Sprintf("%s: %s", at, p.Message)
}

// Report holds every problem found, errors and warnings apart.
type Report struct {
	Errors   []Problem
	Warnings []Problem
}

func (r *Report) add(p Problem) {
	if p.Severity == Error {
		r.Errors = append(r.Errors, p)
	} else {
		r.Warnings = append(r.Warnings, p)
	}
}

// ErrInvalid is wrapped by Report.Err.
var ErrInvalid = errors.New("invalid config")

// Err is nil when the report has no errors; otherwise it names the first error and how many
// more there are.
func (r Report) Err() error {
	switch len(r.Errors) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%w: %s", ErrInvalid, r.Errors[0])
	default:
		return fmt.Errorf("%w: %s (and %d more)", ErrInvalid, r.Errors[0], len(r.Errors)-1)
	}
}

// Parse parses a config of spec 3.0 to 3.6 and checks it against what mantlet-firstboot
// implements. The config is usable only when the report has no errors.
func Parse(raw []byte) (Config, Report) {
	var rep Report
	cfg, rpt, err := v3_6.ParseCompatibleVersion(raw)
	for _, e := range rpt.Entries {
		rep.add(fromEntry(e))
	}
	if err != nil {
		if len(rep.Errors) == 0 {
			rep.add(Problem{Path: versionPath(err), Message: err.Error()})
		}
		return Config{}, rep
	}
	own := append(Unsupported(cfg), Invalid(cfg)...)
	locate(raw, own)
	for _, p := range own {
		rep.add(p)
	}
	return cfg, rep
}

// locate gives the agent's own problems the line and column of the deepest part of their
// path the raw config has, as Ignition's problems have (vcontext, Ignition's own way).
func locate(raw []byte, ps []Problem) {
	if len(ps) == 0 {
		return
	}
	root, err := vjson.UnmarshalToContext(raw)
	if err != nil {
		return
	}
	for i, p := range ps {
		c := path.New("json", p.at...)
		n, err := root.Get(c)
		for err != nil && len(c.Path) > 0 {
			c = c.Pop()
			n, err = root.Get(c)
		}
		if err != nil || len(c.Path) == 0 {
			continue
		}
		line, col := n.Start()
		ps[i].Line, ps[i].Column = int(line), int(col)
	}
}

func versionPath(err error) string {
	if strings.Contains(err.Error(), "version") {
		return "$.ignition.version"
	}
	return "$"
}

func fromEntry(e report.Entry) Problem {
	p := Problem{Severity: Warning, Path: JSONPath(e.Context), Message: e.Message}
	if e.Kind.IsFatal() {
		p.Severity = Error
	}
	if e.Marker.StartP != nil {
		p.Line, p.Column = int(e.Marker.StartP.Line), int(e.Marker.StartP.Column)
	}
	return p
}

// JSONPath renders a vcontext path as $.a.b[3].c.
func JSONPath(c path.ContextPath) string {
	return Path(c.Path...)
}

// Path renders path elements (strings for keys, ints for indices) as $.a.b[3].c.
func Path(elems ...any) string {
	var b strings.Builder
	b.WriteString("$")
	for _, e := range elems {
		switch v := e.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		default:
			fmt.Fprintf(&b, ".%v", v)
		}
	}
	return b.String()
}
