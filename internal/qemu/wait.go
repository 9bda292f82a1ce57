package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// tailLines is how much of the console an error of WaitFor quotes.
const tailLines = 40

// regexpOverlap is how far back a regular expression search reaches into output already
// searched, so that a match spanning two writes is still found.
const regexpOverlap = 64 << 10

// WaitFor returns once the console shows pattern: a string (matched literally) or a
// *regexp.Regexp. The whole console is searched, from the first line. It fails early, quoting
// the last lines of the console, when a problem shows up on the console (see Problems), when
// QEMU exits, when timeout (0: none) passes or when ctx is done; the errors wrap ErrProblem,
// ErrExited, ErrTimeout or the context's error.
func (m *Machine) WaitFor(ctx context.Context, pattern any, timeout time.Duration) error {
	_, err := m.WaitForTime(ctx, pattern, timeout)
	return err
}

// WaitForTime is WaitFor that also says when the match reached the console (to 50 ms), which
// may be well before the call.
func (m *Machine) WaitForTime(ctx context.Context, pattern any, timeout time.Duration) (time.Time, error) {
	match, overlap, desc, err := matcher(pattern)
	if err != nil {
		return time.Time{}, err
	}
	return m.waitConsole(ctx, match, overlap, desc, timeout)
}

// Watch returns when a problem shows up on the console or QEMU exits (an error wrapping
// ErrProblem or ErrExited, also for an exit with status 0), or nil once ctx is done.
func (m *Machine) Watch(ctx context.Context) error {
	_, err := m.waitConsole(ctx, func([]byte) int { return -1 }, 0, "a problem", 0)
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil
	case errors.Is(err, ErrExited):
		return m.exitReason() // an exit needs no console tail
	}
	return err
}

func (m *Machine) waitConsole(ctx context.Context, match func([]byte) int, overlap int, desc string, timeout time.Duration) (time.Time, error) {
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	var from int64
	exited := false
	for {
		if ps := m.console.problems(); len(ps) > 0 {
			return time.Time{}, m.waitError(desc, fmt.Errorf("%w: %s", ErrProblem, joinProblems(ps)))
		}
		found, at, next, changed := m.console.search(match, from, overlap)
		if found {
			return at, nil
		}
		from = next
		if exited {
			return time.Time{}, m.waitError(desc, m.exitReason())
		}
		select {
		case <-changed:
		case <-m.done:
			exited = true // search once more: the console is complete now
		case <-expired:
			return time.Time{}, m.waitError(desc, fmt.Errorf("%w after %s", ErrTimeout, timeout))
		case <-ctx.Done():
			return time.Time{}, m.waitError(desc, ctx.Err())
		}
	}
}

// matcher turns a pattern into a function that returns the end of its first match, or -1.
func matcher(pattern any) (match func([]byte) int, overlap int, desc string, err error) {
	switch p := pattern.(type) {
	case string:
		if p == "" {
			return nil, 0, "", fmt.Errorf("wait for: empty pattern")
		}
		b := []byte(p)
		return func(s []byte) int {
			if i := bytes.Index(s, b); i >= 0 {
				return i + len(b)
			}
			return -1
		}, len(b), fmt.Sprintf("%q", p), nil
	case *regexp.Regexp:
		return func(s []byte) int {
			if loc := p.FindIndex(s); loc != nil {
				return loc[1]
			}
			return -1
		}, regexpOverlap, "/" + p.String() + "/", nil
	}
	return nil, 0, "", fmt.Errorf("wait for: pattern is a %T, want a string or a *regexp.Regexp", pattern)
}

func (m *Machine) exitReason() error {
	if err := m.exitErr; err != nil {
		return err
	}
	return fmt.Errorf("%w with status 0", ErrExited)
}

func (m *Machine) waitError(desc string, err error) error {
	return fmt.Errorf("waiting for %s on the console: %w\nlast console lines:\n%s", desc, err, m.console.tail(tailLines))
}

func joinProblems(ps []Problem) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}
