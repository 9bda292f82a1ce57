package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// probeDeadline bounds the KVM probe. Firmware that works under KVM reaches its boot manager in
// a second or two; a broken KVM either reports an internal error at once or never gets there.
const probeDeadline = 45 * time.Second

// probeReached is what the firmware prints on the serial console once it has initialised the
// platform and chooses a boot device (OVMF's BdsDxe driver).
var probeReached = []byte("BdsDxe")

// probeFailed is how QEMU reports that KVM could not run a guest instruction; QEMU then pauses
// the guest instead of exiting.
var probeFailed = []byte("KVM internal error")

// ProbeArgs builds the arguments of the KVM probe: the real machine, CPU model and firmware of
// the VMs, no disk, the serial console written to serial. Opening /dev/kvm is not enough, and
// neither is running a few instructions: on some nested or sandboxed hosts KVM opens and runs
// simple code but stops with an emulation failure in OVMF.
func ProbeArgs(fw Firmware, vars, serial string) []string {
	return []string{
		"-machine", "q35", "-accel", "kvm", "-cpu", cpuModel(AccelKVM), "-m", "256",
		"-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
		"-serial", "file:" + serial,
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + escapeOpt(fw.Code),
		"-drive", "if=pflash,format=raw,unit=1,file=" + escapeOpt(vars),
	}
}

// accelProbe decides between KVM and TCG.
type accelProbe struct {
	binary   string
	firmware Firmware
	dir      string // where the probe's firmware variables and serial log are written
	openKVM  func() error
	// run runs the probe VM until its firmware reaches the boot manager (nil error) or fails.
	run func(ctx context.Context, binary string, args []string, serial string) error
	log *slog.Logger
}

func openDevKVM() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// verdicts caches the probe's answer per QEMU binary and firmware for the life of the process:
// a test suite starts many VMs, and the answer does not change.
var verdicts struct {
	sync.Mutex
	m map[string]error
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
	key := p.binary + "\x00" + p.firmware.Code
	verdicts.Lock()
	defer verdicts.Unlock()
	if err, ok := verdicts.m[key]; ok {
		return err
	}
	err := p.probe(ctx)
	if ctx.Err() == nil {
		if verdicts.m == nil {
			verdicts.m = map[string]error{}
		}
		verdicts.m[key] = err
	}
	return err
}

func (p accelProbe) probe(ctx context.Context) error {
	vars := filepath.Join(p.dir, "kvm-probe-vars.fd")
	if err := copyFile(p.firmware.Vars, vars); err != nil {
		return fmt.Errorf("kvm probe: copy firmware variables: %w", err)
	}
	defer os.Remove(vars)
	serial := filepath.Join(p.dir, "kvm-probe-serial.log")
	defer os.Remove(serial)
	ctx, cancel := context.WithTimeout(ctx, probeDeadline)
	defer cancel()
	if err := p.run(ctx, p.binary, ProbeArgs(p.firmware, vars, serial), serial); err != nil {
		return fmt.Errorf("kvm probe: %w", err)
	}
	return nil
}

// runProbe starts QEMU and watches the serial log and QEMU's stderr until the firmware reaches
// its boot manager, QEMU reports a KVM error or exits, or ctx ends; QEMU is killed in any case.
func runProbe(ctx context.Context, binary string, args []string, serial string) error {
	var stderr syncBuffer
	cmd := exec.Command(binary, args...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	reaped := false
	defer func() {
		if !reaped {
			cmd.Process.Kill()
			<-exited
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if out, _ := os.ReadFile(serial); bytes.Contains(out, probeReached) {
			return nil
		}
		if msg := stderr.Bytes(); bytes.Contains(msg, probeFailed) {
			return fmt.Errorf("%s", firstLine(msg[bytes.Index(msg, probeFailed):]))
		}
		select {
		case err := <-exited:
			reaped = true
			if err == nil {
				err = errors.New("exited before the firmware ran")
			}
			return fmt.Errorf("%w: %s", err, firstLine(stderr.Bytes()))
		case <-ctx.Done():
			return fmt.Errorf("firmware did not reach its boot manager: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(bytes.TrimSpace(b))
}

// syncBuffer is a bytes.Buffer that a process can write while another goroutine reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
