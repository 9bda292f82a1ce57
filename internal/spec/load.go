package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Positions maps the field paths of one decoded file ("kernel.cmdline[2]") to their lines.
type Positions struct {
	File  string
	lines map[string]int
}

func newPositions(file string) *Positions {
	return &Positions{File: file, lines: map[string]int{}}
}

// Has reports whether the field at path was written in the file (even as an empty list).
func (p *Positions) Has(path string) bool {
	_, ok := p.lines[path]
	return ok
}

// Line is the line of the field at path or, when the file does not have it, the line of its
// nearest parent that it has; 0 when nothing is known.
func (p *Positions) Line(path string) int {
	if p == nil {
		return 0
	}
	for {
		if l, ok := p.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return p.lines[""]
		}
		path = path[:i]
	}
}

// LoadImage reads, decodes and validates the image definition at path and returns it with
// the bytes it was decoded from. The error lists every problem (an Errors value); warnings are
// not returned here: use ValidateImage, or NewPlan, to get them.
func LoadImage(path string) (*Image, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read image definition: %w", err)
	}
	img, _, _, errs := checkImage(path, data)
	if len(errs) > 0 {
		return nil, data, errs
	}
	return img, data, nil
}

// LoadProfile reads, decodes and validates the profile at path (not its includes) and returns
// it with the bytes it was decoded from, like LoadImage.
func LoadProfile(path string) (*Profile, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read profile: %w", err)
	}
	prof, _, _, errs := checkProfile(path, data)
	if len(errs) > 0 {
		return nil, data, errs
	}
	return prof, data, nil
}

// DecodeImage decodes an image definition; file names it in errors. It checks the shape
// (exactly one document, known fields, the kind of every value), not the values: see
// ValidateImage.
func DecodeImage(file string, data []byte) (*Image, *Positions, error) {
	img := &Image{}
	pos, shapeErrs, err := decode(file, data, img)
	if err == nil {
		err = shapeErrs.Err()
	}
	if err != nil {
		return nil, nil, err
	}
	return img, pos, nil
}

// DecodeProfile decodes a profile, like DecodeImage.
func DecodeProfile(file string, data []byte) (*Profile, *Positions, error) {
	prof := &Profile{}
	pos, shapeErrs, err := decode(file, data, prof)
	if err == nil {
		err = shapeErrs.Err()
	}
	if err != nil {
		return nil, nil, err
	}
	return prof, pos, nil
}

// checkImage decodes and validates an image definition, reporting shape and value problems
// together. img is nil only when the file is not one YAML document.
func checkImage(file string, data []byte) (img *Image, pos *Positions, warns, errs Errors) {
	img = &Image{}
	pos, shapeErrs, err := decode(file, data, img)
	if err != nil {
		return nil, nil, nil, err.(Errors)
	}
	warns, errs = ValidateImage(img, pos)
	return img, pos, warns, mergeShape(shapeErrs, errs)
}

// checkProfile decodes and validates a profile, like checkImage.
func checkProfile(file string, data []byte) (prof *Profile, pos *Positions, warns, errs Errors) {
	prof = &Profile{}
	pos, shapeErrs, err := decode(file, data, prof)
	if err != nil {
		return nil, nil, nil, err.(Errors)
	}
	warns, errs = ValidateProfile(prof, pos)
	return prof, pos, warns, mergeShape(shapeErrs, errs)
}

// MergeShape adds the shape problems of DecodeFile to the problems the caller's validation
// found, leaving out those at or under a path whose shape was wrong (a field dropped for its
// shape then reads as missing), ordered by line.
func MergeShape(shapeErrs, errs Errors) Errors { return mergeShape(shapeErrs, errs) }

// mergeShape adds the shape problems to the value problems, leaving out value problems at or
// under a path whose shape was wrong (a field dropped for its shape then reads as missing).
func mergeShape(shapeErrs, errs Errors) Errors {
	if len(shapeErrs) == 0 {
		return errs
	}
	all := slices.Clone(shapeErrs)
	for _, e := range errs {
		if !slices.ContainsFunc(shapeErrs, func(s FieldError) bool { return under(e.Path, s.Path) }) {
			all = append(all, e)
		}
	}
	all.sortByLine()
	return all
}

// under reports whether path is parent or below it.
func under(path, parent string) bool {
	if parent == "" || path == parent {
		return true
	}
	return strings.HasPrefix(path, parent) && (path[len(parent)] == '.' || path[len(parent)] == '[')
}

// decode parses data as exactly one YAML document, checks its shape against out's type
// (recording the line of every field on the way) and decodes it into out. err (an Errors
// value) means data is not one YAML document. Shape problems are returned apart, with the
// fields that have them left out of out, so that the rest can still be validated.
func decode(file string, data []byte, out any) (pos *Positions, shapeErrs Errors, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, Errors{{File: file, Line: 1, Msg: "empty document"}}
		}
		return nil, nil, Errors{yamlError(file, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, nil, Errors{{File: file, Line: extra.Line, Msg: "a second document: a file holds exactly one"}}
	case !errors.Is(err, io.EOF):
		return nil, nil, Errors{yamlError(file, err)}
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return nil, nil, Errors{{File: file, Line: doc.Line, Msg: "empty document"}}
	}
	root := doc.Content[0]
	pos = newPositions(file)
	pos.lines[""] = root.Line
	s := &shape{pos: pos}
	s.walk(root, reflect.TypeOf(out).Elem(), "")
	if len(s.errs) > 0 {
		// The walk dropped what it rejected: decode the rest as it is.
		s.errs.sortByLine()
		if err := root.Decode(out); err != nil {
			s.errs = append(s.errs, yamlError(file, err))
		}
		return pos, s.errs, nil
	}
	// The shape check above already rejects unknown fields with their paths; the strict
	// decoder is the second line, for anything it may have missed.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(out); err != nil {
		return pos, Errors{yamlError(file, err)}, nil
	}
	return pos, nil, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): `)

// yamlError turns a yaml.v3 error ("yaml: line 3: ...") into a FieldError with that line.
func yamlError(file string, err error) FieldError {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	fe := FieldError{File: file, Msg: msg}
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil && m[0] == 0 {
		fe.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		fe.Msg = msg[m[1]:]
	}
	return fe
}

// DecodeFile decodes one YAML document of file into out (a pointer to a struct) with the
// checks of image definitions and profiles: unknown and repeated fields and values of the
// wrong kind, each with its path and line. Fields with such problems are left at their zero
// values; the problems come back as Errors, with the positions of every field for the
// caller's own validation. pos is nil when data is not one YAML document.
func DecodeFile(file string, data []byte, out any) (pos *Positions, errs Errors) {
	pos, shapeErrs, err := decode(file, data, out)
	if err != nil {
		return nil, err.(Errors)
	}
	return pos, shapeErrs
}
