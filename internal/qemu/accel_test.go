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

	"github.com/mantlet/mantlet/internal/command"
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
		{name: "auto with a kvm that cannot run guests", want: AccelAuto, openKVM: kvmOpens, probeErr: errors.New("signal: aborted"), wantAccel: AccelTCG, wantProbe: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := &command.Recorder{Respond: func(command.Cmd) ([]byte, error) { return nil, tt.probeErr }}
			p := accelProbe{runner: rec, binary: "qemu-system-x86_64", dir: dir, openKVM: tt.openKVM, log: slog.New(slog.DiscardHandler)}
			got, err := p.resolve(context.Background(), tt.want)
			if err != nil || got != tt.wantAccel {
				t.Fatalf("resolve(%s) = %s, %v; want %s", tt.want, got, err, tt.wantAccel)
			}
			if !tt.wantProbe {
				if len(rec.Calls) != 0 {
					t.Fatalf("calls = %v, want none", rec.Calls)
				}
				return
			}
			want := "qemu-system-x86_64 " + strings.Join(ProbeArgs(filepath.Join(dir, "kvm-probe.bin")), " ")
			if len(rec.Calls) != 1 || rec.Calls[0].String() != want {
				t.Fatalf("calls = %v, want [%s]", rec.Calls, want)
			}
		})
	}
}

func TestProbeArgs(t *testing.T) {
	got := strings.Join(ProbeArgs("/t/probe.bin"), " ")
	want := "-machine q35 -accel kvm -cpu host -m 16 -nodefaults -display none -monitor none -serial none -no-reboot -bios /t/probe.bin"
	if got != want {
		t.Errorf("ProbeArgs = %q, want %q", got, want)
	}
}

// TestProbeBIOSResetsUnderTCG runs the probe firmware for real, under TCG: it must reset the
// machine, which -no-reboot turns into QEMU exiting 0.
func TestProbeBIOSResetsUnderTCG(t *testing.T) {
	if _, err := exec.LookPath(DefaultBinary); err != nil {
		t.Skipf("%s not installed (qemu-system-x86 package)", DefaultBinary)
	}
	bios := filepath.Join(t.TempDir(), "probe.bin")
	if err := os.WriteFile(bios, probeBIOS(), 0o600); err != nil {
		t.Fatal(err)
	}
	args := ProbeArgs(bios)
	for i, a := range args {
		switch a {
		case "kvm":
			args[i] = "tcg"
		case "host":
			args[i] = "max"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := (command.Exec{}).Run(ctx, command.Cmd{Name: DefaultBinary, Args: args}); err != nil {
		t.Fatalf("probe under TCG: %v", err)
	}
}
