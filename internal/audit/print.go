package audit

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Print writes the report as text: per benchmark the counts, the score against its threshold,
// every waiver applied and every rule left unwaived; then stale waivers and the component checks.
func Print(w io.Writer, rep *Report) {
	for i := range rep.Benchmarks {
		br := &rep.Benchmarks[i]
		res := br.Results
		fmt.Fprintf(w, "\n%s (%s)\n", br.Benchmark.Title, br.Benchmark.Profile)
		if br.Booted != nil {
			fmt.Fprintf(w, "  %-8s %s; score %.1f%%\n", "offline", countLine(br.Offline), br.Offline.Score())
			fmt.Fprintf(w, "  %-8s %s; score %.1f%%\n", "booted", countLine(br.Booted), br.Booted.Score())
			fmt.Fprintf(w, "  judged   the booted result where the booted scan could judge a rule, else the offline one\n")
			for _, rr := range regressions(br.Offline, br.Booted) {
				fmt.Fprintf(w, "  note     %s passes offline, %s in the booted machine\n", rr.Rule, rr.Result)
			}
		}
		fmt.Fprintf(w, "  %s\n", countLine(res))
		verdict := "ok"
		if res.Score() < float64(br.Min) {
			verdict = "BELOW THRESHOLD"
		}
		fmt.Fprintf(w, "  score %.1f%% (%d pass of %d applicable), threshold %d%%: %s\n",
			res.Score(), res.Counts["pass"], res.Applicable(), br.Min, verdict)
		for _, wr := range br.Waived {
			fmt.Fprintf(w, "  waived   %-7s %s: %s\n", wr.Result+from(res, wr.Rule), wr.Rule, wr.Waiver.Reason)
		}
		for _, rr := range br.Unwaived {
			fmt.Fprintf(w, "  UNWAIVED %-7s %s\n", rr.Result+from(res, rr.Rule), rr.Rule)
		}
		if br.Booted != nil {
			fmt.Fprintf(w, "  (* judged in the booted machine)\n")
		}
		fmt.Fprintf(w, "  %d waived, %d unwaived; report %s\n", len(br.Waived), len(br.Unwaived), br.HTML)
	}
	if len(rep.Stale) > 0 {
		fmt.Fprintf(w, "\nstale waivers (the rule passes: remove the waiver)\n")
		for _, s := range rep.Stale {
			fmt.Fprintf(w, "  stale    %s (%s): %s\n", s.Rule, s.File, s.Reason)
		}
	}
	if len(rep.Unused) > 0 {
		fmt.Fprintf(w, "\nunused waivers (the rule neither passes nor fails here: not applicable, not selected or unknown)\n")
		for _, u := range rep.Unused {
			fmt.Fprintf(w, "  unused   %s (%s): %s\n", u.Rule, u.File, u.Reason)
		}
	}
	fmt.Fprintf(w, "\ncomponent checks (sshd -T, docker, sudoers, key material, world-writable and unowned files)\n")
	for _, f := range rep.Waived {
		fmt.Fprintf(w, "  waived   %s\n", f)
	}
	if len(rep.Components) == 0 {
		fmt.Fprintf(w, "  all pass\n")
	}
	for _, f := range rep.Components {
		fmt.Fprintf(w, "  FAIL     %s\n", f)
	}
	if rep.OK() {
		fmt.Fprintf(w, "\naudit passed\n")
	} else {
		fmt.Fprintf(w, "\naudit FAILED\n")
	}
}

func countLine(res *Results) string {
	var counts []string
	for _, n := range resultNames {
		counts = append(counts, fmt.Sprintf("%s %d", n, res.Counts[n]))
	}
	return strings.Join(counts, ", ")
}

// from marks a merged result that came from the booted scan.
func from(res *Results, rule string) string {
	if res.From[rule] == FromBooted {
		return "*"
	}
	return ""
}

// regressions are the rules that pass offline and fail in the booted machine.
func regressions(offline, booted *Results) []RuleResult {
	var rs []RuleResult
	for r, res := range offline.Rules {
		if res == "pass" && booted.Rules[r] == "fail" {
			rs = append(rs, RuleResult{Rule: r, Result: "fail"})
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Rule < rs[j].Rule })
	return rs
}
