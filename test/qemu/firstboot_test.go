//go:build qemu

package qemu_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/qemu"
)

// clusterReached is systemd's status line for mantlet-cluster.target (the description may be
// shortened on an 80-column console, so either name or description).
var clusterReached = regexp.MustCompile(`Reached target .*(mantlet-cluster|may join its cluster)`)

const testSecret = "s3cret-value-not-for-the-console"

func writeIgnition(t *testing.T, cfg map[string]any) string {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.ign")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// persistentDisk is a qcow2 overlay of the built image that survives a reboot of the VM.
func persistentDisk(t *testing.T, base string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.qcow2")
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, p, "6G").CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	return p
}

// startPersistent boots disk itself, so that what the VM writes survives a reboot.
func startPersistent(t *testing.T, ctx context.Context, disk, ignition string) *qemu.Machine {
	t.Helper()
	return startMachine(t, ctx, qemu.Options{Image: disk, Ignition: ignition, Persist: true})
}

// TestFirstbootAppliesConfigOnce boots with a config that adds an admin with an SSH key in
// the sudo group, writes a 0600 file owned by a system user and enables a unit; checks all
// three over SSH; reboots and checks the agent did not run again.
func TestFirstbootAppliesConfigOnce(t *testing.T) {
	b := defaultBuild(t)
	signer, authorized, err := qemu.NewKeyPair("mantlet-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeIgnition(t, map[string]any{
		"ignition": map[string]any{"version": "3.3.0"},
		"passwd": map[string]any{"users": []any{
			map[string]any{"name": "admin", "groups": []string{"sudo"}, "sshAuthorizedKeys": []string{authorized}},
			map[string]any{"name": "svc", "system": true, "noCreateHome": true},
		}},
		"storage": map[string]any{"files": []any{map[string]any{
			"path": "/etc/mantlet-test/secret", "mode": 0o600,
			"user": map[string]any{"name": "svc"}, "group": map[string]any{"name": "svc"},
			"contents": map[string]any{"source": "data:," + testSecret},
		}}},
		"systemd": map[string]any{"units": []any{map[string]any{
			"name": "mantlet-test.service", "enabled": true,
			"contents": "[Unit]\nDescription=mantlet test unit\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
		}}},
	})
	disk := persistentDisk(t, b.output(t, "qcow2"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	m := startPersistent(t, ctx, disk, cfg)
	start := time.Now()
	if err := m.WaitFor(ctx, booted, bootTimeout); err != nil {
		t.Fatalf("first boot: multi-user not reached: %v", err)
	}
	if err := m.WaitFor(ctx, "mantlet-firstboot: done", 2*time.Minute); err != nil {
		t.Fatalf("first boot did not finish: %v", err)
	}
	t.Logf("first boot: multi-user after %.1f s; agent: %s", time.Since(start).Seconds(), agentRunTime(m.Console()))
	fps := qemu.HostKeyFingerprints(m.Console())
	c, err := qemu.DialSSH(ctx, m.SSHPort(), "admin", signer, fps, 3*time.Minute)
	if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	run := sshRunner(t, c)
	if got := run("id -nG admin"); !strings.Contains(" "+got+" ", " sudo ") {
		t.Errorf("admin groups %q lack sudo", got)
	}
	if got := run("sudo -n stat -c '%a %U %G' /etc/mantlet-test/secret"); got != "600 svc svc" {
		t.Errorf("secret file is %q, want 600 svc svc", got)
	}
	if got := run("sudo -n cat /etc/mantlet-test/secret"); got != testSecret {
		t.Errorf("secret file holds %q", got)
	}
	if got := run("getent passwd svc | cut -d: -f3"); got == "" || len(got) > 3 {
		t.Errorf("svc uid %q is not a system uid", got)
	}
	if got := run("systemctl is-enabled mantlet-test.service; systemctl is-active mantlet-test.service"); got != "enabled\nactive" {
		t.Errorf("mantlet-test.service: %q, want enabled and active", got)
	}
	if got := run("sudo -n stat -c %a /var/lib/mantlet/firstboot/done; sudo -n test ! -e /var/lib/mantlet/firstboot/config.ign && echo no-cache"); got != "600\nno-cache" && got != "644\nno-cache" {
		t.Errorf("stamps: %q (want the done stamp and no cached config)", got)
	}
	if !clusterReached.MatchString(m.Console()) {
		t.Error("mantlet-cluster.target was not reached after a successful first boot")
	}
	if strings.Contains(m.Console(), testSecret) {
		t.Fatal("the secret reached the console")
	}
	c.Run("sudo -n systemctl reboot")
	c.Close()
	select {
	case <-m.Done(): // -no-reboot: the reboot ends QEMU
	case <-time.After(5 * time.Minute):
		t.Fatal("the machine did not go down for the reboot")
	}

	// Second boot of the same disk: the agent's unit is skipped, host keys are the same.
	m2 := startPersistent(t, ctx, disk, cfg)
	if err := m2.WaitFor(ctx, booted, bootTimeout); err != nil {
		t.Fatalf("second boot: multi-user not reached: %v", err)
	}
	if strings.Contains(m2.Console(), "mantlet-firstboot: starting") || strings.Contains(m2.Console(), "creating the state partition") {
		t.Error("the second boot ran first boot again")
	}
	c2, err := qemu.DialSSH(ctx, m2.SSHPort(), "admin", signer, fps, 3*time.Minute)
	if err != nil {
		t.Fatalf("ssh after reboot (same host keys expected): %v", err)
	}
	defer c2.Close()
	run2 := sshRunner(t, c2)
	if got := run2("systemctl show -p ConditionResult --value mantlet-firstboot.service"); got != "no" {
		t.Errorf("mantlet-firstboot ConditionResult %q on the second boot, want no (skipped)", got)
	}
	if got := run2("systemctl is-active mantlet-cluster.target mantlet-test.service"); got != "active\nactive" {
		t.Errorf("after reboot: %q", got)
	}
	for _, mm := range []*qemu.Machine{m, m2} {
		if p := mm.Problems(); len(p) > 0 {
			t.Errorf("console problems: %+v", p)
		}
	}
}

// TestFirstbootBrokenConfig boots with a config the agent refuses: the console names the
// problem and its JSON path, and the cluster target (and so every component) does not start.
func TestFirstbootBrokenConfig(t *testing.T) {
	b := defaultBuild(t)
	cfg := writeIgnition(t, map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"storage": map[string]any{
			"disks": []any{map[string]any{"device": "/dev/vdb", "wipeTable": true}},
			"files": []any{map[string]any{"path": "/etc/mantlet-test/secret", "mode": 0o600, "contents": map[string]any{"source": "data:," + testSecret}}},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	m := startVM(t, ctx, b.output(t, "qcow2"), cfg)
	if err := m.WaitFor(ctx, regexp.MustCompile(`mantlet-firstboot: FAILED: .*\$\.storage\.disks`), bootTimeout); err != nil {
		t.Fatalf("no failure naming $.storage.disks on the console: %v", err)
	}
	if err := m.WaitFor(ctx, regexp.MustCompile(`Dependency failed for .*(mantlet-cluster|may join its cluster)`), 3*time.Minute); err != nil {
		t.Fatalf("the cluster target's dependency failure is not on the console: %v", err)
	}
	// Host keys are made even when the config fails, so that sshd can start.
	if err := m.WaitFor(ctx, booted, bootTimeout); err != nil {
		t.Fatalf("multi-user not reached: %v", err)
	}
	if fps := qemu.HostKeyFingerprints(m.Console()); len(fps) != 3 {
		t.Errorf("host keys not made after the failed config: %q", fps)
	}
	if clusterReached.MatchString(m.Console()) {
		t.Error("mantlet-cluster.target was reached although first boot failed")
	}
	if !regexp.MustCompile(`mantlet: boot finished; failed units: [^\r\n]*mantlet-firstboot\.service`).MatchString(m.Console()) {
		t.Error("the boot-finished line does not name mantlet-firstboot.service as failed")
	}
	if strings.Contains(m.Console(), testSecret) {
		t.Fatal("the secret reached the console")
	}
}

func sshRunner(t *testing.T, c *qemu.SSHClient) func(string) string {
	return func(cmd string) string {
		t.Helper()
		r, err := c.Run(cmd)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if r.Status != 0 {
			t.Fatalf("%s: exit %d: %s", cmd, r.Status, r.Stderr)
		}
		return strings.TrimSpace(string(r.Stdout))
	}
}

// agentRunTime reads how long the agent ran from the kernel timestamps of its first and last
// console lines.
func agentRunTime(console string) string {
	re := regexp.MustCompile(`\[\s*([0-9.]+)\] mantlet-firstboot\[\d+\]: mantlet-firstboot: (starting|done)`)
	var start, end string
	for _, m := range re.FindAllStringSubmatch(console, -1) {
		if m[2] == "starting" {
			start = m[1]
		} else {
			end = m[1]
		}
	}
	if start == "" || end == "" {
		return "run time not on the console"
	}
	return "from " + start + " s to " + end + " s after kernel start"
}
