// Package audit measures a built image, or an unpacked root tree, against the CIS Debian 12
// benchmarks with OpenSCAP (offline, on a read-only view of the tree) and runs the component
// checks OpenSCAP lacks: sshd -T of the image, the Docker daemon, sudoers and key material.
// Rules that cannot pass are waived with a reason; every waiver shows in the report.
package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/mantlet/mantlet/internal/command"
)

// Options say what to audit and against what.
type Options struct {
	// Input is a raw disk image (its root-x86-64 partition is unpacked) or a root directory.
	Input string
	// Datastream is the SCAP source data stream (.xml or .xml.gz).
	Datastream string
	// ReportDir receives NAME.html and NAME-results.xml per benchmark.
	ReportDir string
	// Benchmarks to evaluate; nil: CIS.
	Benchmarks []Benchmark
	// Min is the least score in percent per benchmark name; absent or 0: no threshold.
	Min map[string]int
	// Waivers accept rules that do not pass.
	Waivers []Waiver
	// Docker is what the profiles ask of the Docker daemon.
	Docker DockerPolicy
	// Boot, for a disk image, also boots it and evaluates the benchmarks in the running
	// machine; a rule's result is then the booted one wherever the booted scan could judge it.
	Boot        bool
	BootOptions BootOptions
	Runner      command.Runner
}

// Report is what an audit found.
type Report struct {
	Benchmarks []BenchmarkReport
	Components []Finding
	// Waived are component findings the profiles accept, each with the profile's reason.
	Waived []Finding
	// Stale are waivers of rules that pass (in some benchmark) and fail in none.
	Stale []Waiver
	// Unused are waivers of rules that neither pass nor fail in any benchmark (not
	// applicable, not selected, or no such rule).
	Unused []Waiver
}

// BenchmarkReport is the outcome of one benchmark.
type BenchmarkReport struct {
	Benchmark Benchmark
	Results   *Results // what is judged: Offline, or Offline and Booted merged
	Offline   *Results // the scan of the tree at rest
	Booted    *Results // the scan of the running machine; nil when it was not booted
	Min       int
	Waived    []WaivedRule // rules that did not pass and have a waiver
	Unwaived  []RuleResult // rules that did not pass and have none
	HTML      string       // the report file
}

// RuleResult is one rule and its result.
type RuleResult struct{ Rule, Result string }

// WaivedRule is a rule that did not pass, with the waiver that accepts it.
type WaivedRule struct {
	RuleResult
	Waiver Waiver
}

// OK reports whether the benchmark met its threshold and every rule that did not pass is waived.
func (b *BenchmarkReport) OK() bool {
	return len(b.Unwaived) == 0 && b.Results.Score() >= float64(b.Min)
}

// OK reports whether the whole audit passed.
func (r *Report) OK() bool {
	for i := range r.Benchmarks {
		if !r.Benchmarks[i].OK() {
			return false
		}
	}
	return len(r.Components) == 0
}

// needsWaiver are the results that count against the score.
var needsWaiver = []string{"fail", "error", "unknown"}

// Run audits opts.Input, writes the reports and prints a summary to w. It returns the report
// and ErrFailed when the audit did not pass; other errors mean it could not be done.
func Run(ctx context.Context, opts Options, w io.Writer) (*Report, error) {
	if opts.Benchmarks == nil {
		opts.Benchmarks = CIS
	}
	st, err := os.Stat(opts.Input)
	if err != nil {
		return nil, fmt.Errorf("audit input: %w", err)
	}
	if err := os.MkdirAll(opts.ReportDir, 0o755); err != nil {
		return nil, fmt.Errorf("report directory: %w", err)
	}
	work, err := os.MkdirTemp("", "mantlet-audit-")
	if err != nil {
		return nil, err
	}
	mounted := false // never remove the work directory through a mount
	defer func() {
		if !mounted {
			os.RemoveAll(work)
		}
	}()
	root := opts.Input
	if !st.IsDir() {
		fmt.Fprintf(w, "unpacking %s of %s\n", RootPartition, opts.Input)
		if root, err = extractDisk(ctx, opts.Runner, opts.Input, work); err != nil {
			return nil, err
		}
	}
	rep := &Report{}
	// sshd -T writes a throwaway host key into the tree: before the read-only view.
	out, err := sshdEffective(ctx, opts.Runner, root)
	if err != nil {
		rep.Components = append(rep.Components, Finding{Check: "sshd", Subject: "sshd -T", Msg: err.Error()})
	} else {
		rep.Components = append(rep.Components, CheckSSHD(out)...)
	}
	docker, waived := CheckDocker(root, opts.Docker)
	rep.Components = append(rep.Components, docker...)
	rep.Waived = append(rep.Waived, waived...)
	rep.Components = append(rep.Components, CheckSudoers(root)...)
	rep.Components = append(rep.Components, CheckKeyMaterial(root)...)
	rep.Components = append(rep.Components, CheckFiles(root)...)

	ds, err := plainDatastream(opts.Datastream, work)
	if err != nil {
		return nil, err
	}
	view := filepath.Join(work, "ro")
	unmount, err := bindReadOnly(root, view)
	if err != nil {
		return nil, err
	}
	mounted = true
	offline := map[string]*Results{}
	for _, b := range opts.Benchmarks {
		fmt.Fprintf(w, "evaluating %s offline ...\n", b.Title)
		res, err := runOffline(ctx, opts, view, ds, b)
		if err != nil {
			if uerr := unmount(); uerr == nil {
				mounted = false
			}
			return nil, err
		}
		offline[b.Name] = res
	}
	if err := unmount(); err != nil {
		return nil, err
	}
	mounted = false
	var booted map[string]*Results
	if opts.Boot && !st.IsDir() {
		o := opts.BootOptions
		if o.ConsoleLog == "" {
			o.ConsoleLog = filepath.Join(opts.ReportDir, "booted-console.log")
		}
		if booted, err = scanBooted(ctx, opts.Runner, opts.Input, ds, work, opts.ReportDir, opts.Benchmarks, o, w); err != nil {
			return nil, err
		}
	}
	for _, b := range opts.Benchmarks {
		res := offline[b.Name]
		var bt *Results
		if booted != nil {
			bt = booted[b.Name]
			res = Merge(res, bt)
			if err := generateReport(ctx, opts.Runner, filepath.Join(opts.ReportDir, b.Name+"-booted-results.xml"), filepath.Join(opts.ReportDir, b.Name+"-booted.html")); err != nil {
				return nil, err
			}
		}
		br := Judge(b, res, opts.Min[b.Name], opts.Waivers)
		br.Offline, br.Booted = offline[b.Name], bt
		br.HTML = filepath.Join(opts.ReportDir, b.Name+".html")
		rep.Benchmarks = append(rep.Benchmarks, *br)
	}
	rep.Stale, rep.Unused = idleWaivers(rep.Benchmarks, opts.Waivers)
	Print(w, rep)
	if !rep.OK() {
		return rep, ErrFailed
	}
	return rep, nil
}

// runOffline evaluates one benchmark on the read-only view of the tree.
func runOffline(ctx context.Context, opts Options, view, ds string, b Benchmark) (*Results, error) {
	results := filepath.Join(opts.ReportDir, b.Name+"-results.xml")
	html := filepath.Join(opts.ReportDir, b.Name+".html")
	if err := evaluate(ctx, opts.Runner, view, ds, results, html, b); err != nil {
		return nil, err
	}
	return ParseResultsFile(results)
}

// Judge applies the waivers and the threshold to the results of one benchmark.
func Judge(b Benchmark, res *Results, min int, waivers []Waiver) *BenchmarkReport {
	br := &BenchmarkReport{Benchmark: b, Results: res, Min: min}
	byRule := map[string]Waiver{}
	for _, w := range waivers {
		byRule[w.Rule] = w
	}
	rules := make([]string, 0, len(res.Rules))
	for r := range res.Rules {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		result := res.Rules[r]
		if !slices.Contains(needsWaiver, result) {
			continue
		}
		rr := RuleResult{Rule: r, Result: result}
		// A waiver for what the offline scan cannot judge does not cover a booted result.
		if wv, ok := byRule[r]; ok && !(wv.OfflineOnly && res.From[r] == FromBooted) {
			br.Waived = append(br.Waived, WaivedRule{RuleResult: rr, Waiver: wv})
		} else {
			br.Unwaived = append(br.Unwaived, rr)
		}
	}
	return br
}

// idleWaivers are the waivers no rule needs: stale ones, whose rule passes in some benchmark
// and needs a waiver in none, and unused ones, whose rule neither passes nor needs a waiver.
func idleWaivers(reports []BenchmarkReport, waivers []Waiver) (stale, unused []Waiver) {
	for _, w := range waivers {
		if w.OfflineOnly && judgedBooted(reports, w.Rule) {
			continue // idle by design: the booted scan judged the rule
		}
		passes, needed := false, false
		for _, br := range reports {
			switch res := br.Results.Rules[w.Rule]; {
			case res == "pass":
				passes = true
			case slices.Contains(needsWaiver, res):
				needed = true
			}
		}
		switch {
		case passes && !needed:
			stale = append(stale, w)
		case !passes && !needed:
			unused = append(unused, w)
		}
	}
	return stale, unused
}

// judgedBooted reports whether a booted scan gave the result of rule in some benchmark.
func judgedBooted(reports []BenchmarkReport, rule string) bool {
	for _, br := range reports {
		if br.Results.From[rule] == FromBooted {
			return true
		}
	}
	return false
}

// IsFailed reports whether err says the audit ran and did not pass.
func IsFailed(err error) bool { return errors.Is(err, ErrFailed) }
