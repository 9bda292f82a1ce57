package audit

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParseResults: any input gives results or an error, never a panic, and the counts add up.
func FuzzParseResults(f *testing.F) {
	if data, err := os.ReadFile("testdata/results.xml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`<TestResult><rule-result idref="x"><result>pass</result></rule-result></TestResult>`))
	f.Add([]byte(`<a><TestResult/><TestResult/></a>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := ParseResults(bytes.NewReader(data))
		if err != nil {
			return
		}
		n := 0
		for _, c := range res.Counts {
			n += c
		}
		if n < len(res.Rules) {
			t.Errorf("%d results counted for %d rules", n, len(res.Rules))
		}
		if s := res.Score(); s < 0 || s > 100 {
			t.Errorf("score %v", s)
		}
	})
}

// FuzzParseWaivers: any waiver file gives waivers or problems, never a panic; every waiver
// returned without problems has a full rule id and a reason.
func FuzzParseWaivers(f *testing.F) {
	f.Add([]byte("- rule: xccdf_org.ssgproject.content_rule_a\n  reason: r\n"))
	f.Add([]byte("[]\n"))
	f.Add([]byte("- rule: a\n"))
	f.Add([]byte("{rule: x}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, problems := parseWaivers("w.yaml", data)
		if len(problems) > 0 {
			return
		}
		for _, w := range ws {
			if w.Rule == "" || w.Reason == "" {
				t.Errorf("accepted %+v", w)
			}
		}
	})
}
