package qemu

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mantlet/mantlet/internal/command"
)

// probeBIOS is a 64 KiB firmware image whose reset vector (at offset 0xfff0) runs
// `mov dx,0xcf9; mov al,6; out dx,al; hlt`: a reset through the ICH9 reset control register,
// which -no-reboot turns into QEMU exiting with status 0. Any other outcome (an abort, a hang
// until the probe's deadline) means KVM cannot run guests here.
func probeBIOS() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = 0xf4 // hlt
	}
	copy(b[0xfff0:], []byte{0xba, 0xf9, 0x0c, 0xb0, 0x06, 0xee, 0xf4})
	return b
}

// ProbeArgs builds the arguments of the KVM probe: a tiny VM with the real machine and CPU
// model that resets, and so exits 0, as soon as its first instructions run. Opening /dev/kvm is
// not enough: in some nested or sandboxed hosts KVM opens but cannot run a guest.
func ProbeArgs(bios string) []string {
	return []string{
		"-machine", "q35", "-accel", "kvm", "-cpu", cpuModel(AccelKVM), "-m", "16",
		"-nodefaults", "-display", "none", "-monitor", "none", "-serial", "none", "-no-reboot",
		"-bios", bios,
	}
}

// accelProbe decides between KVM and TCG.
type accelProbe struct {
	runner  command.Runner
	binary  string
	dir     string // where the probe firmware is written
	openKVM func() error
	log     *slog.Logger
}

func openDevKVM() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// resolve turns auto into kvm or tcg; kvm and tcg are taken as asked.
func (p accelProbe) resolve(ctx context.Context, want Accel) (Accel, error) {
	if want != AccelAuto {
		return want, nil
	}
	if err := p.kvmWorks(ctx); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("choose accelerator: %w", ctx.Err())
		}
		p.log.Info("qemu: using TCG (software emulation), KVM is not usable", "reason", err)
		return AccelTCG, nil
	}
	return AccelKVM, nil
}

func (p accelProbe) kvmWorks(ctx context.Context) error {
	if err := p.openKVM(); err != nil {
		return err
	}
	bios := filepath.Join(p.dir, "kvm-probe.bin")
	if err := os.WriteFile(bios, probeBIOS(), 0o600); err != nil {
		return fmt.Errorf("write kvm probe: %w", err)
	}
	defer os.Remove(bios)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r := p.runner
	if e, ok := r.(command.Exec); ok {
		// A failing probe is an answer, not an error: resolve logs it as the reason for TCG.
		e.Log = slog.New(slog.DiscardHandler)
		r = e
	}
	if _, err := r.Run(ctx, command.Cmd{Name: p.binary, Args: ProbeArgs(bios)}); err != nil {
		return fmt.Errorf("kvm probe: %w", err)
	}
	return nil
}
