package qemu

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeQemu writes a shell script that stands in for qemu-system-x86_64 and returns options
// that boot it on a throwaway raw image with fake firmware.
func fakeQemu(t *testing.T, script string) Options {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "qemu-system-x86_64")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"node.raw", "CODE.fd", "VARS.fd"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Options{
		Image: filepath.Join(dir, "node.raw"), Persist: true, Accel: AccelTCG, Binary: bin,
		Firmware:   &Firmware{Code: filepath.Join(dir, "CODE.fd"), Vars: filepath.Join(dir, "VARS.fd")},
		ConsoleLog: filepath.Join(dir, "console.log"), TempDir: dir,
		Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
}

// gone reports whether no process has pid any more.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestMachineWaitForThenStop(t *testing.T) {
	opts := fakeQemu(t, `echo "args: $*"; printf 'Debian GNU/Linux 12 node-1 ttyS0\r\n\r\nnode-1 login: '; exec sleep 300`)
	var term bytes.Buffer
	opts.Console = &term
	m, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	ctx := context.Background()
	if err := m.WaitFor(ctx, "login: ", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitFor(ctx, regexp.MustCompile(`node-\d+ ttyS0`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if m.SSHPort() == 0 || m.Accel() != AccelTCG {
		t.Errorf("ssh port %d, accel %s", m.SSHPort(), m.Accel())
	}
	if !strings.Contains(m.Console(), "restrict=on,hostfwd=tcp:127.0.0.1:") {
		t.Errorf("console %q does not show the arguments", m.Console())
	}
	if _, err := os.Stat(filepath.Join(m.Dir(), "OVMF_VARS.fd")); err != nil {
		t.Errorf("private firmware variables: %v", err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if !gone(m.Pid()) {
		t.Errorf("process %d still there after Stop", m.Pid())
	}
	if _, err := os.Stat(m.Dir()); !os.IsNotExist(err) {
		t.Errorf("temporary directory left behind: %v", err)
	}
	if err := m.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	log, _ := os.ReadFile(opts.ConsoleLog)
	if !strings.Contains(string(log), "login: ") || !strings.Contains(term.String(), "login: ") {
		t.Errorf("console log %q, terminal %q", log, term.String())
	}
}

func TestMachineWaitForFailsEarly(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		wantErr error
		want    string
	}{
		{
			name:    "kernel panic",
			script:  `printf '[ 1.8] Kernel panic - not syncing: VFS: Unable to mount root fs\r\n[ 1.9] CPU: 0 PID: 1\r\n'; exec sleep 300`,
			wantErr: ErrProblem,
			want:    "kernel panic at console line 1",
		},
		{
			name:    "qemu exits",
			script:  `echo 'qemu-system-x86_64: -drive file=x: Could not open' >&2; echo last words; exit 3`,
			wantErr: ErrExited,
			want:    "exit status 3: qemu-system-x86_64: -drive file=x: Could not open",
		},
		{
			name:    "timeout",
			script:  `echo booting; exec sleep 300`,
			wantErr: ErrTimeout,
			want:    "  | booting",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Start(context.Background(), fakeQemu(t, tt.script))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Stop()
			start := time.Now()
			err = m.WaitFor(context.Background(), "login: ", 3*time.Second)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant %v with %q", err, tt.wantErr, tt.want)
			}
			if !strings.Contains(err.Error(), "last console lines:") {
				t.Errorf("err %v does not quote the console", err)
			}
			if tt.wantErr != ErrTimeout && time.Since(start) > 2*time.Second {
				t.Errorf("failed after %s, not early", time.Since(start))
			}
		})
	}
}

func TestMachineExitStatus(t *testing.T) {
	m, err := Start(context.Background(), fakeQemu(t, `exit 3`))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Wait(); !errors.Is(err, ErrExited) {
		t.Fatalf("Wait = %v, want ErrExited", err)
	}
	if m.ExitCode() != 3 {
		t.Fatalf("ExitCode = %d, want 3", m.ExitCode())
	}
}

func TestMachineEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	m, err := Start(ctx, fakeQemu(t, `exec sleep 300`))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-m.Done():
	case <-time.After(StopGrace + 30*time.Second):
		t.Fatal("QEMU still running after its context was cancelled")
	}
	if !gone(m.Pid()) {
		t.Errorf("process %d still there", m.Pid())
	}
	if _, err := os.Stat(m.Dir()); !os.IsNotExist(err) {
		t.Errorf("temporary directory left behind: %v", err)
	}
}

func TestMachineStopKillsAProcessThatIgnoresSIGTERM(t *testing.T) {
	opts := fakeQemu(t, `trap '' TERM; echo ready; while :; do sleep 1; done`)
	opts.KeepTemp = true
	m, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WaitFor(context.Background(), "ready", time.Minute); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m.Stop()
	if d := time.Since(start); d < StopGrace {
		t.Errorf("stopped after %s, before the grace period", d)
	}
	if !gone(m.Pid()) {
		t.Errorf("process %d still there", m.Pid())
	}
	if _, err := os.Stat(m.Dir()); err != nil {
		t.Errorf("KeepTemp: %v", err)
	}
}

func TestStartValidatesFirst(t *testing.T) {
	_, err := Start(context.Background(), Options{Image: "/nonexistent/node.qcow2", Accel: "bogus"})
	if err == nil || !strings.Contains(err.Error(), "image:") || !strings.Contains(err.Error(), "accel:") {
		t.Fatalf("err = %v", err)
	}
}

func TestWaitForRejectsOtherPatterns(t *testing.T) {
	m := &Machine{console: newConsole(), done: make(chan struct{})}
	if err := m.WaitFor(context.Background(), 42, time.Second); err == nil {
		t.Fatal("WaitFor(42) succeeded")
	}
}
