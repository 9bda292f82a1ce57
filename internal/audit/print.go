package audit

import (
	"fmt"
	"io"
	"strings"
)

// Print writes the report as text: per benchmark the counts, the score against its threshold,
// every waiver applied and every rule left unwaived; then stale waivers and the component checks.
func Print(w io.Writer, rep *Report) {
	for i := range rep.Benchmarks {
		br := &rep.Benchmarks[i]
		res := br.Results
		fmt.Fprintf(w, "\n%s (%s)\n", br.Benchmark.Title, br.Benchmark.Profile)
		var counts []string
		for _, n := range resultNames {
			counts = append(counts, fmt.Sprintf("%s %d", n, res.Counts[n]))
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(counts, ", "))
		verdict := "ok"
		if res.Score() < float64(br.Min) {
			verdict = "BELOW THRESHOLD"
		}
		fmt.Fprintf(w, "  score %.1f%% (%d pass of %d applicable), threshold %d%%: %s\n",
			res.Score(), res.Counts["pass"], res.Applicable(), br.Min, verdict)
		for _, wr := range br.Waived {
			fmt.Fprintf(w, "  waived   %-7s %s: %s\n", wr.Result, wr.Rule, wr.Waiver.Reason)
		}
		for _, rr := range br.Unwaived {
			fmt.Fprintf(w, "  UNWAIVED %-7s %s\n", rr.Result, rr.Rule)
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
