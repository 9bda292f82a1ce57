package audit

import (
	"math"
	"strings"
	"testing"
)

func TestParseResults(t *testing.T) {
	res, err := ParseResultsFile("testdata/results.xml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"pass": 3, "fail": 2, "unknown": 1, "notapplicable": 1, "notchecked": 1, "notselected": 1, "error": 1, "informational": 1}
	for k, v := range want {
		if res.Counts[k] != v {
			t.Errorf("count %s = %d, want %d", k, res.Counts[k], v)
		}
	}
	if len(res.Rules) != 11 {
		t.Errorf("rules: %d, want 11", len(res.Rules))
	}
	if got := res.Applicable(); got != 7 {
		t.Errorf("applicable = %d, want 7 (pass, fail, error, unknown)", got)
	}
	if got := res.Score(); math.Abs(got-300.0/7) > 1e-9 {
		t.Errorf("score = %v, want %v", got, 300.0/7)
	}
}

func TestParseResultsBad(t *testing.T) {
	for name, doc := range map[string]string{
		"no TestResult": `<Benchmark><Rule id="x"/></Benchmark>`,
		"not XML":       `<Benchmark><TestResult>`,
		"no idref":      `<Benchmark><TestResult><rule-result><result>pass</result></rule-result></TestResult></Benchmark>`,
		"no result":     `<Benchmark><TestResult><rule-result idref="x"></rule-result></TestResult></Benchmark>`,
	} {
		if _, err := ParseResults(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestScoreEmpty(t *testing.T) {
	r := &Results{Rules: map[string]string{}, Counts: map[string]int{"notapplicable": 4}}
	if r.Score() != 0 || r.Applicable() != 0 {
		t.Errorf("score %v, applicable %d; want 0, 0", r.Score(), r.Applicable())
	}
}
