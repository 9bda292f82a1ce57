package qemu

import (
	"fmt"
	"regexp"
	"strings"
)

// ProblemKind names what went wrong in the guest.
type ProblemKind string

// The problems the console scanner knows.
const (
	KernelPanic   ProblemKind = "kernel panic"
	KernelOops    ProblemKind = "kernel oops"
	Segfault      ProblemKind = "segfault"
	GoPanic       ProblemKind = "go panic"
	OOMKill       ProblemKind = "oom kill"
	OrderingCycle ProblemKind = "systemd ordering cycle"
)

// Problem is one console line that shows something went wrong.
type Problem struct {
	Kind ProblemKind
	Line int    // 1-based console line number
	Text string // the line, without escape sequences and surrounding space
}

func (p Problem) String() string {
	return fmt.Sprintf("%s at console line %d: %s", p.Kind, p.Line, p.Text)
}

// problemRules match one line each; the first match wins. The kernel's command line (which
// carries panic=30 and oops=panic) matches none of them.
var problemRules = []struct {
	kind ProblemKind
	re   *regexp.Regexp
	not  *regexp.Regexp // lines to leave alone, such as a panic's closing banner
}{
	{kind: KernelPanic, re: regexp.MustCompile(`Kernel panic - not syncing`), not: regexp.MustCompile(`---\[ end Kernel panic`)},
	{kind: KernelOops, re: regexp.MustCompile(`\bOops:|\bBUG:|general protection fault`)},
	{kind: Segfault, re: regexp.MustCompile(`segfault at `)},
	{kind: OOMKill, re: regexp.MustCompile(`Out of memory: Killed process|invoked oom-killer`)},
	{kind: OrderingCycle, re: regexp.MustCompile(`Found ordering cycle`)},
}

// A Go panic is a "panic: " (or a runtime "fatal error: ") line followed, within a few lines,
// by a goroutine trace; without the trace it is only a message that mentions the word.
var (
	goPanicStart = regexp.MustCompile(`\bpanic: |\bfatal error: `)
	goroutine    = regexp.MustCompile(`\bgoroutine \d+ \[`)
)

const goPanicWindow = 20 // lines between "panic: " and "goroutine N ["

// ansiEscape matches the terminal escape sequences firmware and systemd print.
var ansiEscape = regexp.MustCompile(`\x1b(\[[0-9;=?]*[ -/]*[@-~]|[@-Z\\-_])`)

// cleanLine strips escape sequences, carriage returns and surrounding space.
func cleanLine(s string) string {
	if !strings.Contains(s, "\x1b") {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(ansiEscape.ReplaceAllString(s, ""))
}

// scanner finds problems line by line, as the console arrives.
type scanner struct {
	line     int
	problems []Problem
	panic    *Problem // a "panic: " line waiting for its goroutine trace
}

func (s *scanner) feed(raw string) {
	s.line++
	text := cleanLine(raw)
	if s.panic != nil {
		switch {
		case goroutine.MatchString(text):
			s.problems = append(s.problems, *s.panic)
			s.panic = nil
		case s.line-s.panic.Line > goPanicWindow:
			s.panic = nil
		}
	}
	for _, r := range problemRules {
		if r.re.MatchString(text) && (r.not == nil || !r.not.MatchString(text)) {
			s.problems = append(s.problems, Problem{Kind: r.kind, Line: s.line, Text: text})
			return
		}
	}
	if s.panic == nil && goPanicStart.MatchString(text) {
		s.panic = &Problem{Kind: GoPanic, Line: s.line, Text: text}
	}
}

// Scan lists the problems a console transcript shows, in order.
func Scan(console string) []Problem {
	var s scanner
	for line := range strings.Lines(console) {
		s.feed(line)
	}
	return s.problems
}
