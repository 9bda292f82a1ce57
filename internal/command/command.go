// Package command is the one seam through which the build and the QEMU harness run external
// tools (mmdebstrap, mksquashfs, veritysetup, objcopy, qemu-img). Argument lists are built by
// pure functions elsewhere; this package only runs them, logs each as started, finished or
// failed (with its captured stderr), and offers a recording fake for tests.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Cmd is one invocation of an external tool.
type Cmd struct {
	Name  string   // program, looked up in PATH
	Args  []string // arguments, never containing secrets
	Dir   string   // working directory, "" for the current one
	Env   []string // extra environment (KEY=VALUE), added to the process's own
	Stdin io.Reader
	// Stdout, when set, receives the tool's standard output as it is written (for long
	// running tools); Run then returns nil output.
	Stdout io.Writer
}

// String renders the command for logs and errors.
func (c Cmd) String() string {
	return strings.Join(append([]string{c.Name}, c.Args...), " ")
}

// Runner runs external commands. Run returns the captured standard output.
type Runner interface {
	Run(ctx context.Context, c Cmd) ([]byte, error)
}

// Error is returned when a command exits non-zero or cannot start. Stderr holds the tail of
// what it printed on standard error.
type Error struct {
	Cmd    string
	Stderr string
	Err    error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Cmd, e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Exec runs commands on this machine. Each command gets a process group of its own; when
// the context is cancelled (Ctrl-C, a timeout) the whole group gets SIGTERM, so that a tool
// such as mmdebstrap can unmount its chroot and remove its temporary tree and so that its
// apt and dpkg children stop too; what is left of the group after Grace gets SIGKILL.
type Exec struct {
	Log *slog.Logger // nil: slog.Default()
	// Stderr, when set, also receives the tools' standard error as it is written
	// (progress of long steps on a terminal).
	Stderr io.Writer
	// Grace is how long a cancelled command's group has between SIGTERM and SIGKILL, and how
	// long Run waits for the output pipes of a command that exited; 0: DefaultGrace.
	Grace time.Duration
}

// DefaultGrace leaves mmdebstrap time to unmount and remove a root tree on a loaded machine.
const DefaultGrace = 30 * time.Second

const stderrTail = 4096

// Run implements Runner.
func (e Exec) Run(ctx context.Context, c Cmd) ([]byte, error) {
	log := e.Log
	if log == nil {
		log = slog.Default()
	}
	grace := e.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	cmd := exec.Command(c.Name, c.Args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	cmd.Stdin = c.Stdin
	var stdout bytes.Buffer
	if c.Stdout != nil {
		cmd.Stdout = c.Stdout
	} else {
		cmd.Stdout = &stdout
	}
	stderr := &tailBuffer{max: stderrTail}
	if e.Stderr != nil {
		cmd.Stderr = io.MultiWriter(stderr, e.Stderr)
	} else {
		cmd.Stderr = stderr
	}
	// output pipes a leftover child still holds are closed this long after the command exits
	cmd.WaitDelay = grace
	start := time.Now()
	log.Debug("command started", "cmd", c.String())
	err := ctx.Err()
	if err == nil {
		err = cmd.Start()
	}
	if err == nil {
		err = waitGroup(ctx, cmd, grace, log, c.Name)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		log.Error("command failed", "cmd", c.Name, "err", err, "stderr", stderr.String())
		return stdout.Bytes(), &Error{Cmd: c.Name, Stderr: strings.TrimSpace(stderr.String()), Err: err}
	}
	log.Debug("command finished", "cmd", c.Name, "elapsed", time.Since(start).Round(time.Millisecond))
	return stdout.Bytes(), nil
}

// waitGroup waits for a started command. When ctx is cancelled first, its process group gets
// SIGTERM, and SIGKILL once the grace period is over or the command has exited: nothing of
// the group outlives Run.
func waitGroup(ctx context.Context, cmd *exec.Cmd, grace time.Duration, log *slog.Logger, name string) error {
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	stopped := make(chan struct{})
	cancelled := false
	go func() {
		defer close(stopped)
		select {
		case <-exited:
			return
		case <-ctx.Done():
		}
		cancelled = true
		log.Info("command cancelled: SIGTERM to its process group", "cmd", name, "pgid", pgid)
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-exited:
		case <-t.C:
			log.Warn("command still running after SIGTERM: SIGKILL to its process group", "cmd", name, "grace", grace)
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}()
	err := cmd.Wait()
	close(exited)
	<-stopped
	if err == nil && cancelled {
		// stopped cleanly by SIGTERM: still not the work that was asked for
		return ctx.Err()
	}
	return err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// Recorder is a fake Runner that records every call and answers from a table. It is for
// tests of steps: the argument lists a step builds are checked against expectations.
type Recorder struct {
	Calls []Cmd
	// Respond, when set, is called for every command and gives its output and error;
	// it may also create the files the real tool would.
	Respond func(c Cmd) ([]byte, error)
}

// Run implements Runner.
func (r *Recorder) Run(_ context.Context, c Cmd) ([]byte, error) {
	r.Calls = append(r.Calls, c)
	if r.Respond == nil {
		return nil, nil
	}
	out, err := r.Respond(c)
	if c.Stdout != nil && out != nil {
		if _, werr := c.Stdout.Write(out); werr != nil {
			return nil, werr
		}
		return nil, err
	}
	return out, err
}

// Names lists the programs called, in order.
func (r *Recorder) Names() []string {
	names := make([]string, len(r.Calls))
	for i, c := range r.Calls {
		names[i] = c.Name
	}
	return names
}

// ErrNotFound reports a required tool missing from PATH.
var ErrNotFound = errors.New("not found in PATH")

// Require checks that every named tool is installed and names the missing ones, with the
// hint to run make deps.
func Require(tools ...string) error {
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %w (run 'make deps' or scripts/install-deps.sh)", strings.Join(missing, ", "), ErrNotFound)
	}
	return nil
}
