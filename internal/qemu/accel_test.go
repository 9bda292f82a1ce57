package qemu

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResolveAccel(t *testing.T) {
	noKVM := func() error { return os.ErrPermission }
	kvmOpens := func() error { return nil }
	tests := []struct {
		name      string
		want      Accel
		openKVM   func() error
		probeErr  error
		wantAccel Accel
		wantProbe bool
	}{
		{name: "tcg is taken as asked", want: AccelTCG, openKVM: kvmOpens, wantAccel: AccelTCG},
		{name: "kvm is taken as asked", want: AccelKVM, openKVM: noKVM, wantAccel: AccelKVM},
		{name: "auto without /dev/kvm", want: AccelAuto, openKVM: noKVM, wantAccel: AccelTCG},
		{name: "auto with a working kvm", want: AccelAuto, openKVM: kvmOpens, wantAccel: AccelKVM, wantProbe: true},
		{name: "auto with a kvm that cannot run the firmware", want: AccelAuto, openKVM: kvmOpens, probeErr: errors.New("KVM internal error. Suberror: 1"), wantAccel: AccelTCG, wantProbe: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fw := testFirmware(t)
			var calls [][]string
			run := func(_ context.Context, binary string, args []string, serial string) error {
				calls = append(calls, append([]string{binary}, args...))
				return tt.probeErr
			}
			// A binary name of its own: the verdict is cached per binary and firmware.
			binary := "qemu-" + strings.ReplaceAll(tt.name, " ", "-")
			p := accelProbe{binary: binary, firmware: fw, dir: dir, openKVM: tt.openKVM, run: run, log: slog.New(slog.DiscardHandler)}
			for range 2 {
				got, err := p.resolve(context.Background(), tt.want)
				if err != nil || got != tt.wantAccel {
					t.Fatalf("resolve(%s) = %s, %v; want %s", tt.want, got, err, tt.wantAccel)
				}
			}
			if !tt.wantProbe {
				if len(calls) != 0 {
					t.Fatalf("calls = %v, want none", calls)
				}
				return
			}
			if len(calls) != 1 {
				t.Fatalf("probe ran %d times for two VMs, want once (the verdict is cached)", len(calls))
			}
			want := append([]string{binary}, ProbeArgs(fw, filepath.Join(dir, "kvm-probe-vars.fd"), filepath.Join(dir, "kvm-probe-serial.log"))...)
			if strings.Join(calls[0], " ") != strings.Join(want, " ") {
				t.Fatalf("probe = %v, want %v", calls[0], want)
			}
		})
	}
}

func testFirmware(t *testing.T) Firmware {
	t.Helper()
	dir := t.TempDir()
	fw := Firmware{Code: filepath.Join(dir, "CODE.fd"), Vars: filepath.Join(dir, "VARS.fd")}
	for _, p := range []string{fw.Code, fw.Vars} {
		if err := os.WriteFile(p, []byte("fd"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return fw
}

func TestProbeArgs(t *testing.T) {
	got := strings.Join(ProbeArgs(Firmware{Code: "/fw/CODE.fd", Vars: "/fw/VARS.fd"}, "/t/vars.fd", "/t/serial.log"), " ")
	want := "-machine q35 -accel kvm -cpu host -m 256 -nodefaults -display none -monitor none -no-reboot " +
		"-serial file:/t/serial.log -drive if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd " +
		"-drive if=pflash,format=raw,unit=1,file=/t/vars.fd"
	if got != want {
		t.Errorf("ProbeArgs = %q, want %q", got, want)
	}
}

// tcgProbeArgs are the probe's arguments with KVM replaced by TCG, which runs anywhere.
func tcgProbeArgs(t *testing.T, serial string) []string {
	t.Helper()
	if _, err := exec.LookPath(DefaultBinary); err != nil {
		t.Skipf("%s not installed (qemu-system-x86 package)", DefaultBinary)
	}
	fw, err := FindFirmware()
	if err != nil {
		t.Skipf("no OVMF (ovmf package): %v", err)
	}
	vars := filepath.Join(t.TempDir(), "vars.fd")
	if err := copyFile(fw.Vars, vars); err != nil {
		t.Fatal(err)
	}
	args := ProbeArgs(fw, vars, serial)
	for i, a := range args {
		switch a {
		case "kvm":
			args[i] = "tcg"
		case "host":
			args[i] = "max"
		}
	}
	return args
}

// TestRunProbeSeesTheFirmware runs the probe for real under TCG: the firmware reaches its
// boot manager and the probe says so (and stops QEMU).
func TestRunProbeSeesTheFirmware(t *testing.T) {
	serial := filepath.Join(t.TempDir(), "serial.log")
	args := tcgProbeArgs(t, serial)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := runProbe(ctx, DefaultBinary, args, serial); err != nil {
		t.Fatalf("probe under TCG: %v", err)
	}
}

// TestRunProbeFailures: QEMU that exits before the firmware runs, and a probe that runs out of
// time, are failures that say why.
func TestRunProbeFailures(t *testing.T) {
	serial := filepath.Join(t.TempDir(), "serial.log")
	args := tcgProbeArgs(t, serial)
	bad := append(append([]string{}, args...), "-no-such-option")
	err := runProbe(context.Background(), DefaultBinary, bad, serial)
	if err == nil || !strings.Contains(err.Error(), "no-such-option") {
		t.Errorf("probe with a bad option = %v, want QEMU's complaint", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = runProbe(ctx, DefaultBinary, args, serial)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("probe past its deadline = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("probe took %s after its deadline", d)
	}
}
