package audit

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestWriteJSON(t *testing.T) {
	res := &Results{Rules: map[string]string{"a": "pass", "b": "fail", "c": "fail"}, Counts: map[string]int{"pass": 1, "fail": 2},
		From: map[string]string{"b": FromBooted}}
	rep := &Report{
		Benchmarks: []BenchmarkReport{{Benchmark: CIS[0], Results: res, Offline: res, Booted: res, Min: 95, HTML: "out/audit/cis-level1.html",
			Waived:   []WaivedRule{{RuleResult: RuleResult{Rule: "b", Result: "fail"}, Waiver: Waiver{Rule: "b", Reason: "by design"}}},
			Unwaived: []RuleResult{{Rule: "c", Result: "fail"}}}},
		Components: []Finding{{Check: "sshd", Subject: "permitrootlogin", Msg: "yes"}},
		Stale:      []Waiver{{Rule: "z", File: "w.yaml", Reason: "r"}},
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Schema     string `json:"schema"`
		OK         bool   `json:"ok"`
		Benchmarks []struct {
			Name        string   `json:"name"`
			Score       float64  `json:"score"`
			BootedScore *float64 `json:"booted_score"`
			Waived      []struct{ Rule, Judged, Reason string }
			Unwaived    []struct{ Rule, Result string }
		} `json:"benchmarks"`
		Components []struct{ Check, Subject, Message string } `json:"components"`
		Stale      []struct{ Rule, File string }              `json:"stale_waivers"`
		Unused     []any                                      `json:"unused_waivers"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	bm := got.Benchmarks
	if got.Schema != JSONSchema || got.OK || len(bm) != 1 || bm[0].Name != "cis-level1" || bm[0].BootedScore == nil ||
		bm[0].Waived[0].Judged != "booted" || bm[0].Waived[0].Reason != "by design" || bm[0].Unwaived[0].Rule != "c" ||
		got.Components[0].Message != "yes" || got.Stale[0].File != "w.yaml" || got.Unused == nil {
		t.Fatalf("got %+v\n%s", got, b.String())
	}
}
