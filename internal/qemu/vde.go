package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/mantlet/mantlet/internal/command"
)

// A cluster's private network is one VDE switch (vde_switch, Debian's vde-switch package): a
// layer-2 switch in user space whose ports are the QEMU processes that connect to its control
// socket (-netdev vde). No host interface joins it, so no frame of the cluster reaches a real
// network, and it needs no privilege. The alternatives are worse: QEMU's multicast socket
// netdev sends every frame to a multicast group that other processes (and, with a multicast
// route, other machines) can join, and tap devices need root or CAP_NET_ADMIN and put a host
// interface on the segment.

// DefaultSwitchBinary is the VDE switch program.
const DefaultSwitchBinary = "vde_switch"

// switchReady bounds how long a new switch may take to make its control socket.
const switchReady = 10 * time.Second

// SwitchArgs builds the vde_switch argument list: the control directory sock (made by the
// switch, mode 0700, its sockets 0600: only this user's processes may plug in), ports ports,
// no tap, no daemon. The switch reads its management console from stdin and exits, removing
// sock, when stdin closes.
func SwitchArgs(sock string, ports int) []string {
	return []string{
		"--sock", sock,
		"--dirmode", "0700",
		"--mode", "0600",
		"--numports", strconv.Itoa(ports),
	}
}

// Switch is a running vde_switch.
type Switch struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	sock  string
	log   *slog.Logger

	stderr  *tailWriter
	done    chan struct{}
	exitErr error
}

// SwitchOptions describe a switch. Dir is required.
type SwitchOptions struct {
	Dir    string // the control directory is Dir/switch; Dir must exist
	Ports  int    // 0: 32
	Binary string // "": DefaultSwitchBinary
	Log    *slog.Logger
}

// StartSwitch starts a switch and returns once its control socket accepts QEMU. The switch
// lives until Stop, until ctx is done, or until this process ends: its stdin is a pipe from
// this process, and it is killed when the thread that started it ends (Pdeathsig).
func StartSwitch(ctx context.Context, o SwitchOptions) (*Switch, error) {
	if o.Dir == "" {
		return nil, errors.New("switch: no directory")
	}
	if o.Ports == 0 {
		o.Ports = 32
	}
	if o.Binary == "" {
		o.Binary = DefaultSwitchBinary
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if err := command.Require(o.Binary); err != nil {
		return nil, fmt.Errorf("%w (install the vde-switch package)", err)
	}
	sock := filepath.Join(o.Dir, "switch")
	args := SwitchArgs(sock, o.Ports)
	s := &Switch{sock: sock, log: o.Log, stderr: &tailWriter{max: 4 << 10}, done: make(chan struct{})}
	s.cmd = exec.CommandContext(ctx, o.Binary, args...)
	s.cmd.Stdout = io.Discard // the management console's answers
	s.cmd.Stderr = s.stderr
	s.cmd.Cancel = func() error { return s.cmd.Process.Signal(syscall.SIGTERM) }
	s.cmd.WaitDelay = StopGrace
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("switch: %w", err)
	}
	s.stdin = stdin
	o.Log.Debug("vde_switch starting", "cmd", o.Binary, "args", args)
	started := make(chan error, 1)
	go s.run(started)
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	// The switch is ready once it listens on its control socket.
	ctl := filepath.Join(sock, "ctl")
	deadline := time.Now().Add(switchReady)
	for {
		if fi, err := os.Stat(ctl); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("%s exited before it was ready: %w", o.Binary, s.exitErr)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("%s: no control socket %s after %s", o.Binary, ctl, switchReady)
		}
	}
	o.Log.Info("vde_switch started", "pid", s.cmd.Process.Pid, "sock", sock)
	return s, nil
}

// run starts the switch and waits for it on one locked OS thread, as Machine.run does, so
// that Pdeathsig fires only when the harness ends.
func (s *Switch) run(started chan<- error) {
	runtime.LockOSThread()
	if err := s.cmd.Start(); err != nil {
		started <- err
		close(s.done)
		return
	}
	started <- nil
	err := s.cmd.Wait()
	if ps := s.cmd.ProcessState; ps != nil && ps.Success() {
		err = nil
	} else if err != nil {
		if tail := s.stderr.String(); tail != "" {
			err = fmt.Errorf("%w: %s", err, tail)
		}
	}
	s.exitErr = err
	s.log.Info("vde_switch exited", "pid", s.cmd.Process.Pid)
	close(s.done)
}

// Sock is the control directory QEMU's -netdev vde connects to.
func (s *Switch) Sock() string { return s.sock }

// Pid is the switch's process id.
func (s *Switch) Pid() int { return s.cmd.Process.Pid }

// Done is closed once the switch has exited.
func (s *Switch) Done() <-chan struct{} { return s.done }

// Stop ends the switch: its stdin closes (it cleans up and exits), then SIGTERM and SIGKILL
// after StopGrace if it lingers. It returns once the process is gone; safe to call again.
func (s *Switch) Stop() error {
	s.stdin.Close()
	select {
	case <-s.done:
		return s.exitErr
	case <-time.After(StopGrace):
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(StopGrace):
		s.cmd.Process.Kill()
		<-s.done
	}
	return s.exitErr
}
