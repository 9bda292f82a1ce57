package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const rule = "xccdf_org.ssgproject.content_rule_"

func TestJudge(t *testing.T) {
	res, err := ParseResultsFile("testdata/results.xml")
	if err != nil {
		t.Fatal(err)
	}
	waivers := []Waiver{
		{Rule: rule + "e_fail_waived", Reason: "cannot pass here"},
		{Rule: rule + "a_pass", Reason: "was failing once"},
	}
	b := Benchmark{Name: "cis-level2", Title: "CIS Level 2 server", Profile: "p"}
	br := Judge(b, res, 40, waivers)
	if len(br.Waived) != 1 || br.Waived[0].Rule != rule+"e_fail_waived" || br.Waived[0].Waiver.Reason != "cannot pass here" {
		t.Errorf("waived: %+v", br.Waived)
	}
	var unwaived []string
	for _, u := range br.Unwaived {
		unwaived = append(unwaived, u.Result+" "+strings.TrimPrefix(u.Rule, rule))
	}
	if got, want := strings.Join(unwaived, ","), "fail d_fail,unknown f_unknown,error j_error"; got != want {
		t.Errorf("unwaived: %s, want %s", got, want)
	}
	if br.OK() {
		t.Errorf("OK with unwaived failures")
	}
	stale, unused := idleWaivers([]BenchmarkReport{*br}, append(waivers, Waiver{Rule: rule + "g_na", Reason: "n/a"}, Waiver{Rule: rule + "zz_typo", Reason: "typo"}))
	if len(stale) != 1 || stale[0].Rule != rule+"a_pass" {
		t.Errorf("stale: %+v", stale)
	}
	if len(unused) != 2 || unused[0].Rule != rule+"g_na" || unused[1].Rule != rule+"zz_typo" {
		t.Errorf("unused: %+v", unused)
	}

	// Every failure waived: the threshold decides.
	all := append(waivers, Waiver{Rule: rule + "d_fail", Reason: "r"}, Waiver{Rule: rule + "f_unknown", Reason: "r"}, Waiver{Rule: rule + "j_error", Reason: "r"})
	if br := Judge(b, res, 40, all); !br.OK() {
		t.Errorf("score %.1f >= 40 with every failure waived: want OK", br.Results.Score())
	}
	if br := Judge(b, res, 50, all); br.OK() {
		t.Errorf("score %.1f < 50: want not OK", br.Results.Score())
	}

	rep := &Report{Benchmarks: []BenchmarkReport{*Judge(b, res, 40, all)}, Stale: stale, Unused: unused,
		Components: []Finding{{Check: "sshd", Subject: "maxauthtries", Msg: "is \"6\", want at most 3"}}}
	var out bytes.Buffer
	Print(&out, rep)
	for _, want := range []string{
		"CIS Level 2 server (p)",
		"pass 3, fail 2, error 1, unknown 1, notapplicable 1, notchecked 1, notselected 1, informational 1, fixed 0",
		"score 42.9% (3 pass of 7 applicable), threshold 40%: ok",
		"waived   fail    " + rule + "e_fail_waived: cannot pass here",
		"stale    " + rule + "a_pass",
		"unused   " + rule + "zz_typo",
		"FAIL     sshd: maxauthtries",
		"audit FAILED",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLoadWaivers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "- rule: "+rule+"a\n  reason: because\n- rule: "+rule+"b\n  reason: also\n")
	ws, err := LoadWaivers(good)
	if err != nil || len(ws) != 2 || ws[1].Reason != "also" || ws[0].File != good {
		t.Fatalf("LoadWaivers: %+v, %v", ws, err)
	}
	if ws, err := LoadWaivers(write("empty.yaml", "")); err != nil || len(ws) != 0 {
		t.Errorf("empty file: %v, %v", ws, err)
	}
	for name, tc := range map[string]struct{ doc, msg string }{
		"no reason":     {"- rule: " + rule + "a\n", "without a reason"},
		"blank reason":  {"- rule: " + rule + "a\n  reason: \"  \"\n", "without a reason"},
		"short rule":    {"- rule: sshd_set_max_auth_tries\n  reason: x\n", "not a full XCCDF rule id"},
		"unknown field": {"- rule: " + rule + "a\n  reason: x\n  until: 2027\n", "not found"},
		"not a list":    {"rule: x\n", "cannot unmarshal"},
	} {
		_, err := LoadWaivers(write(name+".yaml", tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %q", name, err, tc.msg)
		}
	}
	if _, err := LoadWaivers(good, write("dup.yaml", "- rule: "+rule+"a\n  reason: again\n")); err == nil || !strings.Contains(err.Error(), "already waived") {
		t.Errorf("duplicate across files: %v", err)
	}
}
