package qemu

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/command"
)

// ovmfMarker is what OVMF's boot manager prints on the serial console when it tries, and
// fails, to boot a disk without an EFI system partition.
const ovmfMarker = "BdsDxe"

// TestBootOVMFWithoutDisk boots the real QEMU and OVMF under TCG on an empty disk, waits for
// the firmware's boot manager on the console, and stops the VM.
func TestBootOVMFWithoutDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU under TCG (up to minutes); skipped with -short")
	}
	for _, tool := range []string{DefaultBinary, "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (qemu-system-x86 and qemu-utils packages)", tool)
		}
	}
	if _, err := FindFirmware(); err != nil {
		t.Skipf("OVMF not installed (ovmf package): %v", err)
	}
	dir := t.TempDir()
	image := filepath.Join(dir, "empty.qcow2")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := (command.Exec{}).Run(ctx, command.Cmd{Name: "qemu-img", Args: []string{"create", "-f", "qcow2", image, "64M"}}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}

	m, err := Start(ctx, Options{
		Image: image, Accel: AccelTCG, CPUs: 1, MemoryMiB: 512,
		ConsoleLog: filepath.Join(dir, "console.log"), TempDir: dir,
		Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if err := m.WaitFor(ctx, ovmfMarker, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	if ps := m.Problems(); len(ps) != 0 {
		t.Errorf("problems on the firmware console: %v", ps)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if !gone(m.Pid()) {
		t.Fatalf("qemu (pid %d) still running after Stop", m.Pid())
	}
	if _, err := os.Stat(m.Dir()); !os.IsNotExist(err) {
		t.Errorf("temporary directory left behind: %v", err)
	}
	after, err := os.ReadFile(image)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the image changed (err %v): the VM must boot a throwaway overlay", err)
	}
}
