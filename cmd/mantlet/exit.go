package main

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mantlet/mantlet/internal/audit"
	"github.com/mantlet/mantlet/internal/pipeline"
)

// Exit codes of mantlet, documented in the README.
const (
	exitOK          = 0
	exitError       = 1   // bad input, a store that does not open, any other failure
	exitUsage       = 2   // unknown command or flag, wrong arguments, a required flag missing
	exitAuditFailed = 3   // audit: the image does not meet the profile (scores, unwaived rules, checks)
	exitBuildFailed = 4   // build: a build step failed (the error names it)
	exitInterrupted = 130 // SIGINT or SIGTERM: stopped, cleaned up
)

// usageError marks a mistake in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCode maps what a command returned to the process's exit status.
func exitCode(ctx context.Context, err error) int {
	var ue usageError
	var se *pipeline.StepError
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, pipeline.ErrCanceled)):
		return exitInterrupted
	case errors.As(err, &ue), isFlagRuleError(err):
		return exitUsage
	case errors.Is(err, audit.ErrFailed):
		return exitAuditFailed
	case errors.As(err, &se):
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitBuildFailed
	}
	return exitError
}

// isFlagRuleError says whether err is cobra's for a required flag not set or flags that
// exclude or need each other (cobra does not route them through the flag error function).
func isFlagRuleError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"required flag(s)", "if any flags in the group", "at least one of the flags in the group", "unknown command"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// markUsage makes argument and flag errors of cmd and every command below it usage errors.
func markUsage(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		args := c.Args
		if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
			// a word that is no subcommand is "unknown command", not help and success
			args = cobra.NoArgs
			c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		}
		if args != nil {
			c.Args = func(c *cobra.Command, a []string) error {
				if err := args(c, a); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cmd)
}
