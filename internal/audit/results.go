package audit

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"slices"
)

// Results are the XCCDF rule results of one benchmark, with their counts.
type Results struct {
	Rules  map[string]string // rule id -> result
	Counts map[string]int    // result -> how many rules
	// From says which scan gave a merged rule's result (FromOffline or FromBooted); nil for
	// the results of one scan.
	From map[string]string
}

// The scans a merged result comes from.
const (
	FromOffline = "offline"
	FromBooted  = "booted"
)

// undecided are the results with which a scan says it could not judge a rule.
var undecided = []string{"error", "unknown"}

// Merge combines the results of the offline and the booted scan of one benchmark: a rule's
// result is the booted one unless the booted scan could not judge it (error, unknown) and the
// offline scan could, or the booted scan skipped it (notselected) and the offline scan did not.
func Merge(offline, booted *Results) *Results {
	m := &Results{Rules: map[string]string{}, Counts: map[string]int{}, From: map[string]string{}}
	set := func(rule, result, from string) {
		m.Rules[rule], m.From[rule] = result, from
	}
	for r, res := range offline.Rules {
		set(r, res, FromOffline)
	}
	for r, res := range booted.Rules {
		if old, ok := m.Rules[r]; ok && slices.Contains(undecided, res) && !slices.Contains(undecided, old) {
			continue
		}
		if old, ok := m.Rules[r]; ok && res == "notselected" && old != "notselected" {
			continue
		}
		set(r, res, FromBooted)
	}
	for _, res := range m.Rules {
		m.Counts[res]++
	}
	return m
}

// resultNames are the XCCDF 1.2 rule result values, in the order they are shown.
var resultNames = []string{"pass", "fail", "error", "unknown", "notapplicable", "notchecked", "notselected", "informational", "fixed"}

// Applicable is the number of rules that count towards the score: pass, fail, error, unknown.
func (r *Results) Applicable() int {
	return r.Counts["pass"] + r.Counts["fail"] + r.Counts["error"] + r.Counts["unknown"]
}

// Score is pass / (pass + fail + error + unknown) in percent; 0 when nothing applies.
func (r *Results) Score() float64 {
	if n := r.Applicable(); n > 0 {
		return 100 * float64(r.Counts["pass"]) / float64(n)
	}
	return 0
}

// ParseResultsFile parses an XCCDF results file written by oscap --results.
func ParseResultsFile(path string) (*Results, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := ParseResults(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// ParseResults reads the rule-result elements of the (first) TestResult of an XCCDF document,
// in any XCCDF namespace.
func ParseResults(r io.Reader) (*Results, error) {
	res := &Results{Rules: map[string]string{}, Counts: map[string]int{}}
	dec := xml.NewDecoder(r)
	testResults := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse XCCDF results: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "TestResult":
			testResults++
			if testResults > 1 {
				return res, nil
			}
		case "rule-result":
			var rr struct {
				IDRef  string `xml:"idref,attr"`
				Result string `xml:"result"`
			}
			if err := dec.DecodeElement(&rr, &se); err != nil {
				return nil, fmt.Errorf("parse XCCDF rule-result: %w", err)
			}
			if rr.IDRef == "" || rr.Result == "" {
				return nil, fmt.Errorf("parse XCCDF results: a rule-result without idref or result")
			}
			res.Rules[rr.IDRef] = rr.Result
			res.Counts[rr.Result]++
		}
	}
	if testResults == 0 {
		return nil, fmt.Errorf("parse XCCDF results: no TestResult element")
	}
	return res, nil
}
