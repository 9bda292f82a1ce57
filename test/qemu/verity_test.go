//go:build qemu

package qemu_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	fb "github.com/mantlet/mantlet/firstboot"
	"github.com/mantlet/mantlet/internal/qemu"
)

// corruptedPanic is the kernel's line when dm-verity, opened with --panic-on-corruption,
// finds a block that does not match the hash tree.
var corruptedPanic = regexp.MustCompile(`Kernel panic - not syncing: dm-verity device corrupted`)

// rootPartition is the offset of the root partition in the raw image.
func rootPartition(t *testing.T, b *built) int64 {
	t.Helper()
	for _, p := range b.state.Partitions {
		if p.Name == "root-x86-64" {
			return p.Start
		}
	}
	t.Fatal("no root partition in the build's partition table")
	return 0
}

// fileMiddle is the offset, in the squashfs image, of a byte in the middle of the data
// blocks of the file at path (rdsquashfs --stat reads the inode): far from the blocks of
// other files, so that no read-ahead of theirs reaches it.
func fileMiddle(t *testing.T, squashfs, path string) int64 {
	t.Helper()
	out, err := exec.Command("rdsquashfs", "--stat", path, squashfs).CombinedOutput()
	if err != nil {
		t.Fatalf("rdsquashfs --stat %s: %v\n%s", path, err, out)
	}
	start := regexp.MustCompile(`(?m)^Blocks start: (\d+)$`).FindSubmatch(out)
	sizes := regexp.MustCompile(`(?m)^\s*Block #\d+ size: (\d+)`).FindAllSubmatch(out, -1)
	if start == nil || len(sizes) < 64 {
		t.Fatalf("%s: want a file of at least 64 data blocks:\n%s", path, out)
	}
	off, _ := strconv.ParseInt(string(start[1]), 10, 64)
	half := len(sizes) / 2
	for _, s := range sizes[:half] {
		n, _ := strconv.ParseInt(string(s[1]), 10, 64)
		off += n
	}
	n, _ := strconv.ParseInt(string(sizes[half][1]), 10, 64)
	return off + n/2
}

// TestVerityPanicsOnCorruptionAfterBoot: dm-verity's runtime policy. A byte flipped in a
// block that nothing reads while booting (the middle of the docker CLI) lets the machine boot;
// the first read of that block, from a shell, panics the kernel ("dm-verity device
// corrupted") instead of handing the running system an I/O error or the bad data, and the
// machine goes down (panic=30, QEMU's -no-reboot ends it). Costs one boot and 30 s.
func TestVerityPanicsOnCorruptionAfterBoot(t *testing.T) {
	b := defaultBuild(t)
	if _, err := exec.LookPath("rdsquashfs"); err != nil {
		t.Skip("rdsquashfs not installed (squashfs-tools-ng; make deps)")
	}
	const victim = "/usr/bin/docker"
	off := fileMiddle(t, rootSquashfs(t, b.output(t, "raw"), rootPartition(t, b)), victim)
	raw := filepath.Join(t.TempDir(), "late-corruption.raw")
	if err := sparseCopy(b.output(t, "raw"), raw); err != nil {
		t.Fatal(err)
	}
	if err := flipByte(raw, rootPartition(t, b)+off); err != nil {
		t.Fatal(err)
	}
	signer, authorized, err := qemu.NewKeyPair("mantlet-test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	m := startVM(t, ctx, raw, ignitionWithAdmin(t, authorized))
	if err := m.WaitFor(ctx, booted, bootTimeout); err != nil {
		t.Fatalf("the image with a block corrupted that boot does not read did not boot: %v", err)
	}
	c, err := qemu.DialSSH(ctx, m.SSHPort(), "admin", signer, qemu.HostKeyFingerprints(m.Console()), 3*time.Minute)
	if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	defer c.Close()
	// the read never returns: the kernel panics under it
	go c.Run(fmt.Sprintf("cat %s >/dev/null; echo read-returned", victim))
	err = m.WaitFor(ctx, corruptedPanic, 5*time.Minute)
	if err != nil && !errors.Is(err, qemu.ErrProblem) {
		t.Fatalf("no dm-verity panic after reading the corrupted block: %v", err)
	}
	// the machine goes down; then the console is complete (the panic line may have matched
	// before its newline, which is when the scanner reports it)
	select {
	case <-m.Done():
	case <-time.After(3 * time.Minute):
		t.Error("the machine did not go down after the panic")
	}
	found := false
	for _, p := range m.Problems() {
		if p.Kind == qemu.KernelPanic && corruptedPanic.MatchString(p.Text) {
			found = true
		} else {
			t.Errorf("unexpected console problem: %s", p)
		}
	}
	if !found {
		t.Fatalf("the kernel did not panic with dm-verity device corrupted")
	}
	if !regexp.MustCompile(`verity: .*data block \d+ is corrupted`).MatchString(m.Console()) {
		t.Error("the console does not name the corrupted block")
	}
	t.Logf("booted with the corruption in place (%s), panicked at the first read", fb.BootedMarker)
}

// rootSquashfs copies the squashfs of the root partition out of a raw image (its size is
// the superblock's bytes_used) for rdsquashfs.
func rootSquashfs(t *testing.T, raw string, start int64) string {
	t.Helper()
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sb := make([]byte, 96)
	if _, err := f.ReadAt(sb, start); err != nil {
		t.Fatal(err)
	}
	if string(sb[:4]) != "hsqs" {
		t.Fatalf("no squashfs at offset %d of %s", start, raw)
	}
	used := int64(binary.LittleEndian.Uint64(sb[40:48]))
	out := filepath.Join(t.TempDir(), "root.squashfs")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := io.Copy(w, io.NewSectionReader(f, start, used)); err != nil {
		t.Fatal(err)
	}
	return out
}
