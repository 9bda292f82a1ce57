package spec

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// shape checks a YAML node tree against the Go type it will be decoded into: unknown and
// repeated fields, and values of the wrong kind, each with its path and line. It records
// the line of every field it meets in pos.
type shape struct {
	pos  *Positions
	errs Errors
}

func (s *shape) errorf(line int, path, format string, args ...any) {
	s.errs = append(s.errs, FieldError{File: s.pos.File, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// walk checks n against t. A value of the wrong kind, and a field that is unknown or set
// twice, is dropped from the tree (made null), so that decoding the tree afterwards leaves
// the field at its zero value and the rest can still be validated.
func (s *shape) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // an empty value leaves the field at its zero value
	}
	want := ""
	switch t.Kind() {
	case reflect.Pointer:
		s.walk(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			want = "a mapping"
			break
		}
		s.walkStruct(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			want = "a list"
			break
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			s.pos.lines[p] = item.Line
			s.walk(item, t.Elem(), p)
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			want = "a string"
		}
	case reflect.Int64, reflect.Int:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			want = "an integer"
		}
	case reflect.Bool:
		// YAML 1.2, as yaml.v3 reads it: true and false only (yes, no, on, off are strings).
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			want = "true or false"
		}
	default:
		want = "a supported type (" + t.String() + ")"
	}
	if want != "" {
		s.errorf(n.Line, path, "expected %s, found %s", want, describe(n))
		*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
	}
}

func (s *shape) walkStruct(n *yaml.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	seen := map[string]int{}
	var kept []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			s.errorf(k.Line, path, "expected a field name, found %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			s.errorf(k.Line, p, "field set twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		ft, ok := fields[k.Value]
		if !ok {
			s.errorf(k.Line, p, "unknown field %q%s", k.Value, suggest(k.Value, fields))
			continue
		}
		s.pos.lines[p] = k.Line
		s.walk(v, ft, p)
		kept = append(kept, k, v)
	}
	n.Content = kept
}

// yamlFields maps the YAML names of t's fields to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

// suggest names the known field closest to name, for typos such as "componets".
func suggest(name string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for f := range fields {
		if d := editDistance(name, f); d < bestD || (d == bestD && f < best) {
			best, bestD = f, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if len(n.Value) > 40 {
			return fmt.Sprintf("%q...", n.Value[:40])
		}
		return fmt.Sprintf("%q", n.Value)
	default:
		return "an alias"
	}
}
