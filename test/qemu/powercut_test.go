//go:build qemu

package qemu_test

import (
	"context"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/qemu"
)

// powerCuts are the moments of a first boot the power goes away at: the console line that
// starts each (QEMU is killed -9 as soon as it shows).
var powerCuts = []struct{ name, marker string }{
	// the initrd copies the image's /var onto the new state partition
	{"filling the state partition", "mantlet: first boot: filling /var on"},
	// the passwd stage has written the account databases and homes; storage and units run
	{"applying files and units", "mantlet-firstboot: stage passwd: "},
	// every stage has written; the commit, then the SSH host keys (RSA is slow under TCG)
	{"making host keys", "mantlet-firstboot: stage units: "},
}

// TestPowerCutDuringFirstBoot cuts the power (kill -9 of QEMU) at each moment of powerCuts,
// boots the same disk again, and checks that the second boot ends where an uninterrupted one
// does: the users, files, appends (once), units and host keys of the config, the done stamp,
// nothing of the agent's undo machinery left, every unit running; and that the three machines
// end with the same account databases and files. About 3 to 4 minutes a cut under TCG.
func TestPowerCutDuringFirstBoot(t *testing.T) {
	b := defaultBuild(t)
	signer, authorized, err := qemu.NewKeyPair("mantlet-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeIgnition(t, map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"passwd": map[string]any{
			"groups": []any{map[string]any{"name": "ops", "gid": 1500}},
			"users":  []any{map[string]any{"name": "admin", "groups": []string{"sudo", "ops"}, "sshAuthorizedKeys": []string{authorized}}},
		},
		"storage": map[string]any{"files": []any{
			map[string]any{"path": "/etc/mantlet-test/conf", "mode": 0o640, "user": map[string]any{"name": "admin"}, "group": map[string]any{"name": "ops"},
				"contents": map[string]any{"source": "data:,key%3Dvalue%0A"}},
			map[string]any{"path": "/etc/issue.net", "append": []any{map[string]any{"source": "data:,appended-by-mantlet-test%0A"}}},
		}},
		"systemd": map[string]any{"units": []any{map[string]any{
			"name": "mantlet-test.service", "enabled": true,
			"contents": "[Unit]\nDescription=mantlet test unit\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
		}}},
	})
	digests := map[string]string{}
	for _, cut := range powerCuts {
		t.Run(cut.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			disk := persistentDisk(t, b.output(t, "qcow2"))

			m := startPersistent(t, ctx, disk, cfg)
			if err := m.WaitFor(ctx, cut.marker, bootTimeout); err != nil {
				t.Fatalf("first boot never got to %q: %v", cut.marker, err)
			}
			if err := syscall.Kill(m.Pid(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-m.Done()
			t.Logf("power cut at %q", cut.marker)

			m = startPersistent(t, ctx, disk, cfg)
			if err := m.WaitFor(ctx, booted, bootTimeout); err != nil {
				t.Fatalf("the boot after the power cut did not reach multi-user: %v", err)
			}
			if err := m.WaitFor(ctx, "mantlet-firstboot: done", 2*time.Minute); err != nil {
				t.Fatalf("first boot did not finish after the power cut: %v", err)
			}
			console := m.Console()
			if strings.Contains(console, "mantlet-firstboot: FAILED") || strings.Contains(console, "mantlet: FAILED") {
				t.Fatal("the boot after the power cut failed")
			}
			c, err := qemu.DialSSH(ctx, m.SSHPort(), "admin", signer, qemu.HostKeyFingerprints(console), 3*time.Minute)
			if err != nil {
				t.Fatalf("ssh with the host keys this boot printed: %v", err)
			}
			defer c.Close()
			run := sshRunner(t, c)
			if got := run("id -nG admin"); !strings.Contains(" "+got+" ", " sudo ") || !strings.Contains(" "+got+" ", " ops ") {
				t.Errorf("admin groups %q, want sudo and ops", got)
			}
			if got := run("sudo -n stat -c '%a %U %G' /etc/mantlet-test/conf; sudo -n cat /etc/mantlet-test/conf"); got != "640 admin ops\nkey=value" {
				t.Errorf("conf: %q", got)
			}
			if got := run("grep -c appended-by-mantlet-test /etc/issue.net"); got != "1" {
				t.Errorf("the append is in /etc/issue.net %s times, want once", got)
			}
			if got := run("systemctl is-enabled mantlet-test.service"); got != "enabled" {
				t.Errorf("mantlet-test.service is %q", got)
			}
			if got := run("sudo -n ls -A /var/lib/mantlet/firstboot"); got != "done" {
				t.Errorf("the agent's state directory holds %q, want only done", got)
			}
			if got := run("sudo -n find /etc /var/home /var/lib/mantlet -xdev -name '*.mantlet-*' -print"); got != "" {
				t.Errorf("temporary or kept-aside files left:\n%s", got)
			}
			if got := run("sudo -n ls /etc/ssh/ | grep -c '^ssh_host_.*_key$'"); got != "3" {
				t.Errorf("%s host keys", got)
			}
			if got := run("systemctl is-system-running --wait || true"); got != "running" {
				t.Errorf("system state %q; failed units:\n%s", got, run("systemctl --failed --no-legend || true"))
			}
			if p := m.Problems(); len(p) > 0 {
				t.Errorf("console problems: %+v", p)
			}
			// the account databases (shadow without the date of the last change) and the files
			digests[cut.name] = run(`sudo -n sh -c 'cat /etc/passwd /etc/group /etc/gshadow /etc/subuid /etc/subgid /etc/mantlet-test/conf /etc/issue.net /home/admin/.ssh/authorized_keys; cut -d: -f1,2,4- /etc/shadow; stat -c "%n %a %U %G" /home/admin /home/admin/.ssh /home/admin/.ssh/authorized_keys' | sha256sum`)
			for _, l := range regexp.MustCompile(`mantlet-firstboot: (starting again|undid the changes|the interrupted attempt)[^\r\n]*`).FindAllString(console, -1) {
				t.Logf("second boot: %s", l)
			}
		})
	}
	var first string
	for _, cut := range powerCuts {
		d := digests[cut.name]
		if d == "" {
			continue
		}
		if first == "" {
			first = d
		} else if d != first {
			t.Errorf("the machine cut while %s ends with other accounts or files than the first one", cut.name)
		}
	}
}
