// Package qemu boots mantlet images in QEMU for integration tests and CI: a throwaway overlay
// on the image, OVMF with private variables, user networking that only forwards SSH, the
// serial console captured, logged and scanned for problems, and a process that never outlives
// the harness.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/mantlet/mantlet/internal/command"
)

// StopGrace is how long Stop and a cancelled context give QEMU to exit after SIGTERM before
// it is killed.
const StopGrace = 5 * time.Second

// Machine is a running QEMU.
type Machine struct {
	cmd      *exec.Cmd
	cancel   context.CancelFunc
	console  *console
	stderr   *tailWriter
	accel    Accel
	port     int
	forwards []Forward
	dir      string
	log      *slog.Logger

	started  time.Time
	done     chan struct{} // closed once QEMU has exited and the temporary files are gone
	exitErr  error         // QEMU's exit, see Wait
	cleanErr error
}

// Start boots a VM. It returns once QEMU runs; the VM lives until Stop, until ctx is done, or
// until the guest powers off, reboots or panics (-no-reboot).
func Start(ctx context.Context, opts Options) (m *Machine, err error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	if err := command.Require(o.Binary); err != nil {
		return nil, err
	}
	fw := Firmware{}
	if o.Firmware != nil {
		fw = *o.Firmware
	} else if fw, err = FindFirmware(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(o.TempDir, "mantlet-qemu-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	var logFile *os.File
	defer func() {
		if err != nil {
			if logFile != nil {
				logFile.Close()
			}
			os.RemoveAll(dir)
		}
	}()

	probe := accelProbe{binary: o.Binary, firmware: fw, dir: dir, openKVM: openDevKVM, run: runProbe, log: o.Log}
	accel, err := probe.resolve(ctx, o.Accel)
	if err != nil {
		return nil, err
	}
	d, err := prepareDisk(ctx, o.Runner, o, dir)
	if err != nil {
		return nil, err
	}
	vars := filepath.Join(dir, "OVMF_VARS.fd")
	if err := copyFile(fw.Vars, vars); err != nil {
		return nil, fmt.Errorf("copy firmware variables: %w", err)
	}
	port := o.SSHPort
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	forwards := append([]Forward(nil), o.Forwards...)
	for i := range forwards {
		if forwards[i].Host == 0 {
			if forwards[i].Host, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	ignition := ""
	if o.Ignition != "" {
		if ignition, err = filepath.Abs(o.Ignition); err != nil {
			return nil, fmt.Errorf("ignition: %w", err)
		}
	}
	args := Args(Config{
		Accel: accel, MemoryMiB: o.MemoryMiB, CPUs: o.CPUs,
		FirmwareCode: fw.Code, FirmwareVars: vars,
		Disk: d.path, DiskFormat: d.format, Throwaway: d.throwaway,
		Ignition: ignition, SSHPort: port, Forwards: forwards, Cluster: o.Cluster,
		TBSizeMiB: o.TBSizeMiB,
	})

	var sinks []io.Writer
	if o.ConsoleLog != "" {
		if logFile, err = os.Create(o.ConsoleLog); err != nil {
			return nil, fmt.Errorf("console log: %w", err)
		}
		sinks = append(sinks, logFile)
	}
	if o.Console != nil {
		sinks = append(sinks, o.Console)
	}

	mctx, cancel := context.WithCancel(ctx)
	m = &Machine{
		cancel: cancel, console: newConsole(sinks...), stderr: &tailWriter{max: 8 << 10},
		accel: accel, port: port, forwards: forwards, dir: dir, log: o.Log, done: make(chan struct{}),
	}
	m.cmd = qemuCommand(mctx, o.Binary, args, m.console, m.stderr)
	o.Log.Debug("qemu starting", "cmd", o.Binary, "args", args)
	started := make(chan error, 1)
	go m.run(started, logFile, o.KeepTemp)
	if err := <-started; err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	o.Log.Info("qemu started", "pid", m.cmd.Process.Pid, "accel", accel, "ssh_port", port)
	return m, nil
}

// run starts QEMU and waits for it on one locked OS thread: Pdeathsig fires when the thread
// that forked the child ends, so that thread must live as long as QEMU. The goroutine never
// unlocks, so the thread ends with it, after QEMU.
func (m *Machine) run(started chan<- error, logFile *os.File, keep bool) {
	runtime.LockOSThread()
	if err := m.cmd.Start(); err != nil {
		started <- err
		return
	}
	m.started = time.Now()
	started <- nil
	m.wait(logFile, keep)
}

// qemuCommand ties QEMU to ctx (SIGTERM, then SIGKILL after StopGrace) and to this process
// (Pdeathsig), and puts it in its own process group so that a terminal's Ctrl-C reaches the
// harness, which stops the VM, rather than QEMU directly.
func qemuCommand(ctx context.Context, binary string, args []string, stdout, stderr io.Writer) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdin = nil // /dev/null: the console is output only
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = StopGrace
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (m *Machine) wait(logFile *os.File, keep bool) {
	err := m.cmd.Wait()
	m.console.flush()
	m.exitErr = m.exitError(err)
	var errs []error
	if logFile != nil {
		errs = append(errs, logFile.Close())
	}
	if !keep {
		errs = append(errs, os.RemoveAll(m.dir))
	}
	m.cleanErr = errors.Join(errs...)
	m.log.Info("qemu exited", "pid", m.cmd.Process.Pid, "status", m.cmd.ProcessState.String())
	m.cancel()
	close(m.done)
}

// exitError reads QEMU's end: nil for status 0 (also after Stop, when QEMU handled SIGTERM).
func (m *Machine) exitError(err error) error {
	ps := m.cmd.ProcessState
	if ps == nil {
		return fmt.Errorf("%w: %w", ErrExited, err)
	}
	if ps.Success() {
		return nil
	}
	msg := ps.String()
	if s := m.stderr.String(); s != "" {
		msg += ": " + s
	}
	return fmt.Errorf("%w: %s", ErrExited, msg)
}

// Stop ends the VM: SIGTERM, then SIGKILL after StopGrace. It returns once the process is gone
// and its temporary files are removed; it is safe to call more than once and after the VM has
// ended by itself. The error is about the cleanup only; QEMU's own end is Wait's.
func (m *Machine) Stop() error {
	m.cancel()
	<-m.done
	return m.cleanErr
}

// Wait waits for QEMU to exit and returns nil when it exited with status 0.
func (m *Machine) Wait() error {
	<-m.done
	return m.exitErr
}

// Done is closed once QEMU has exited and the temporary files are removed.
func (m *Machine) Done() <-chan struct{} { return m.done }

// ExitCode is QEMU's exit status, or -1 while it runs or when a signal ended it.
func (m *Machine) ExitCode() int {
	select {
	case <-m.done:
		return m.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Started is when QEMU started.
func (m *Machine) Started() time.Time { return m.started }

// Pid is QEMU's process id.
func (m *Machine) Pid() int { return m.cmd.Process.Pid }

// SSHPort is the port on 127.0.0.1 that reaches the guest's SSH server.
func (m *Machine) SSHPort() int { return m.port }

// Forwards are the forwarded ports besides SSH, with the host ports chosen.
func (m *Machine) Forwards() []Forward { return append([]Forward(nil), m.forwards...) }

// Accel is the accelerator QEMU runs with (kvm or tcg).
func (m *Machine) Accel() Accel { return m.accel }

// Dir is the temporary directory with the overlay and the firmware variables.
func (m *Machine) Dir() string { return m.dir }

// Console is the serial console so far (the most recent 16 MiB or more of it).
func (m *Machine) Console() string { return m.console.String() }

// Problems lists what the console shows went wrong so far.
func (m *Machine) Problems() []Problem { return m.console.problems() }

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
