//go:build qemu

package qemu_test

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	fb "github.com/mantlet/mantlet/firstboot"
	"github.com/mantlet/mantlet/internal/qemu"
)

var multiUser = regexp.MustCompile(`Reached target .*multi-user\.target`)

// booted is the line the image prints on the console, every boot, once multi-user.target is
// reached (systemd's own status line is not printed when a getty holds the console by then).
// The whole line: the units that failed follow the marker and may reach the console later.
var booted = regexp.MustCompile(regexp.QuoteMeta(fb.BootedMarker) + `; failed units: [^\r\n]*\r?\n`)

// bootTimeout is generous: TCG on a loaded 2-core machine.
const bootTimeout = 10 * time.Minute

func ignitionWithAdmin(t *testing.T, authorizedKey string) string {
	t.Helper()
	return writeIgnition(t, map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"passwd": map[string]any{"users": []any{map[string]any{
			"name": "admin", "groups": []string{"sudo"}, "sshAuthorizedKeys": []string{authorizedKey},
		}}},
	})
}

// startVM boots image on a throwaway overlay; the VM is stopped when the test ends.
func startVM(t *testing.T, ctx context.Context, image, ignition string) *qemu.Machine {
	t.Helper()
	return startMachine(t, ctx, qemu.Options{Image: image, Ignition: ignition})
}

// startMachine starts QEMU with the console logged in the test's temporary directory, and
// stops it (showing the console's end when the test failed) when the test ends.
func startMachine(t *testing.T, ctx context.Context, o qemu.Options) *qemu.Machine {
	t.Helper()
	o.ConsoleLog = filepath.Join(t.TempDir(), "console.log")
	m, err := qemu.Start(ctx, o)
	if err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("last console lines:\n%s", tail(m.Console(), 60))
		}
	})
	t.Logf("QEMU started (accel %s), console log %s", m.Accel(), o.ConsoleLog)
	return m
}

// TestBootDefaultImage boots the default image with an Ignition config that adds an admin
// with an SSH key, and checks what the image promises from inside the machine.
func TestBootDefaultImage(t *testing.T) {
	b := defaultBuild(t)
	signer, authorized, err := qemu.NewKeyPair("mantlet-test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	start := time.Now()
	m := startVM(t, ctx, b.output(t, "qcow2"), ignitionWithAdmin(t, authorized))
	if err := m.WaitFor(ctx, booted, bootTimeout); err != nil {
		t.Fatalf("multi-user not reached: %v", err)
	}
	t.Logf("multi-user.target reached %.1f s after QEMU started", time.Since(start).Seconds())
	if err := m.WaitFor(ctx, "mantlet-firstboot: done", 2*time.Minute); err != nil {
		t.Fatalf("first boot did not finish: %v", err)
	}
	console := m.Console()
	for _, want := range []string{
		"mantlet: first boot: creating the state partition",
		"mantlet: first boot: filling /var",
	} {
		if !strings.Contains(console, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	fps := qemu.HostKeyFingerprints(console)
	if len(fps) != 3 {
		t.Fatalf("want 3 host key fingerprints on the console, got %q", fps)
	}
	// The SSH handshake must present one of the host keys printed on this boot's console.
	c, err := qemu.DialSSH(ctx, m.SSHPort(), "admin", signer, fps, 3*time.Minute)
	if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	defer c.Close()
	run := sshRunner(t, c)

	// / is the dm-verity device, read-only, and verified.
	if got := run("findmnt -rno SOURCE,FSTYPE,OPTIONS /"); !regexp.MustCompile(`^/dev/mapper/root squashfs ro[,\s]`).MatchString(got) {
		t.Errorf("/ is %q, want /dev/mapper/root squashfs ro", got)
	}
	status := run("sudo -n /usr/sbin/veritysetup status root")
	for _, want := range []string{"type:        VERITY", "status:      verified", "mode:        readonly"} {
		if !strings.Contains(status, want) {
			t.Errorf("veritysetup status lacks %q:\n%s", want, status)
		}
	}
	rootHash := b.state.Verity.RootHash
	if !strings.Contains(status, rootHash) {
		t.Errorf("the verity device's root hash is not the build's %s:\n%s", rootHash, status)
	}
	if r, _ := c.Run("sudo -n touch /usr/mantlet-write-test"); r.Status == 0 {
		t.Error("writing to /usr succeeded: the root is not read-only")
	}

	// The state partition was made on this boot, fills the rest of the disk, and is writable.
	if got := run("findmnt -rno SOURCE,FSTYPE,OPTIONS /var"); !regexp.MustCompile(`^/dev/vda6 ext4 rw,`).MatchString(got) {
		t.Errorf("/var is %q, want /dev/vda6 ext4 rw", got)
	}
	if got := run("lsblk -bno PARTLABEL,SIZE /dev/vda6"); !strings.HasPrefix(got, "state ") {
		t.Errorf("partition 6 is %q, want the state partition", got)
	} else if size, _ := strconv.ParseInt(strings.Fields(got)[1], 10, 64); size < 3<<30 {
		t.Errorf("the state partition has %d bytes; it should fill the grown disk (over 3 GiB)", size)
	}
	run("echo hello > /var/tmp/mantlet-write-test && cat /var/tmp/mantlet-write-test")
	if got := run("findmnt -no FSTYPE /etc"); got != "overlay" {
		t.Errorf("/etc is %q, want the overlay on the state partition", got)
	}

	// SSH host keys exist, and were made on this boot (after the kernel started).
	boot := run("echo $(( $(date +%s) - $(cut -d. -f1 /proc/uptime) ))")
	keys := run("sudo -n stat -c '%n %Y' /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ecdsa_key /etc/ssh/ssh_host_rsa_key")
	bootAt, _ := strconv.ParseInt(boot, 10, 64)
	for _, line := range strings.Split(keys, "\n") {
		f := strings.Fields(line)
		mtime, _ := strconv.ParseInt(f[1], 10, 64)
		if mtime < bootAt-2 {
			t.Errorf("%s made at %d, before this boot (%d)", f[0], mtime, bootAt)
		}
	}
	if got := run("cat /etc/machine-id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
		t.Errorf("machine-id %q not made on first boot", got)
	}
	if got := run("systemctl is-system-running --wait || true"); got != "running" {
		t.Errorf("system state %q, want running; failed units:\n%s", got, run("systemctl --failed --no-legend || true"))
	}
	if p := m.Problems(); len(p) > 0 {
		t.Errorf("console problems: %+v", p)
	}
}

// TestCorruptedRootRefusesToBoot flips one byte of the root partition in a copy of the image:
// dm-verity must refuse the block, and the machine must not reach multi-user.
func TestCorruptedRootRefusesToBoot(t *testing.T) {
	b := defaultBuild(t)
	raw := filepath.Join(t.TempDir(), "corrupt.raw")
	if err := sparseCopy(b.output(t, "raw"), raw); err != nil {
		t.Fatal(err)
	}
	var root int64 = -1
	for _, p := range b.state.Partitions {
		if p.Name == "root-x86-64" {
			root = p.Start
		}
	}
	if root < 0 {
		t.Fatal("no root partition in the build's partition table")
	}
	// Byte 100 of the squashfs superblock: the first block, read by every mount.
	if err := flipByte(raw, root+100); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	m := startVM(t, ctx, raw, "")
	// dm-verity is opened with --panic-on-corruption: the kernel panics at the first read of
	// the block (the console scanner reports that panic, which is the point here)
	err := m.WaitFor(ctx, regexp.MustCompile(`verity: .*data block 0 is corrupted`), bootTimeout)
	if err != nil && !errors.Is(err, qemu.ErrProblem) {
		t.Fatalf("dm-verity did not report the corrupted block: %v", err)
	}
	if err := m.WaitFor(ctx, corruptedPanic, 2*time.Minute); err != nil && !errors.Is(err, qemu.ErrProblem) {
		t.Fatalf("no dm-verity panic: %v", err)
	}
	if !regexp.MustCompile(`verity: .*data block 0 is corrupted`).MatchString(m.Console()) {
		t.Fatal("dm-verity did not report the corrupted block")
	}
	// The kernel gives up (panic=30 reboots, and -no-reboot ends QEMU) without reaching the system.
	select {
	case <-m.Done():
	case <-time.After(3 * time.Minute):
		t.Error("the machine did not stop after the verity failure")
	}
	for _, p := range m.Problems() {
		if p.Kind != qemu.KernelPanic || !corruptedPanic.MatchString(p.Text) {
			t.Errorf("unexpected console problem: %s", p)
		}
	}
	if multiUser.MatchString(m.Console()) || strings.Contains(m.Console(), fb.BootedMarker) {
		t.Fatal("the corrupted image reached multi-user")
	}
	if !corruptedPanic.MatchString(m.Console()) {
		t.Error("the console does not say why the boot stopped")
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
