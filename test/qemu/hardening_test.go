//go:build qemu

package qemu_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/audit"
	"github.com/mantlet/mantlet/internal/qemu"
	"github.com/mantlet/mantlet/internal/spec"
)

// TestHardenedImage boots the default image and checks the hardening of the base profile from
// outside (ssh-audit against the forwarded sshd) and inside (the Docker daemon, listening
// ports, sshd -T, the firewall, auditd, AppArmor, sysctls, mount options): what an offline scan
// cannot judge.
func TestHardenedImage(t *testing.T) {
	b := defaultBuild(t)
	sshAudit, err := exec.LookPath("ssh-audit")
	if err != nil {
		t.Skip("needs ssh-audit (Debian package ssh-audit)")
	}
	plan, _, err := spec.NewPlan(imageDef, profile, "/")
	if err != nil {
		t.Fatal(err)
	}
	signer, authorized, err := qemu.NewKeyPair("mantlet-test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	m := startVM(t, ctx, b.output(t, "qcow2"), ignitionWithAdmin(t, authorized))
	if err := m.WaitFor(ctx, "mantlet-firstboot: done", bootTimeout); err != nil {
		t.Fatalf("first boot did not finish: %v", err)
	}
	c, err := qemu.DialSSH(ctx, m.SSHPort(), "admin", signer, qemu.HostKeyFingerprints(m.Console()), 3*time.Minute)
	if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	defer c.Close()
	// run runs cmd in the machine and fails t (the test or subtest that asks) when it fails.
	run := func(t *testing.T, cmd string) string {
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
	if got := run(t, "systemctl is-system-running --wait || true"); got != "running" {
		t.Errorf("system state %q, want running; failed units:\n%s", got, run(t, "systemctl --failed --no-legend || true"))
	}

	t.Run("ssh-audit", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, sshAudit, "-n", "-p", strconv.Itoa(m.SSHPort()), "127.0.0.1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		fails := sshAuditFailures(out.String())
		// ssh-audit (2.5) exits 0 when all is good, 2 with warnings only, 3 with a failure,
		// 1 when it could not connect, 255 on an error of its own.
		if (code != 0 && code != 2) || len(fails) > 0 {
			t.Errorf("ssh-audit: exit %d, failures:\n%s\noutput:\n%s", code, strings.Join(fails, "\n"), out.String())
		}
	})

	// Before the ports: dockerd is up (and has not opened any) when they are listed.
	t.Run("docker", func(t *testing.T) { checkDocker(t, c, plan.Docker) })

	t.Run("listening ports", func(t *testing.T) {
		allowed := append([]int{22}, plan.Firewall.TCP...)
		for _, l := range parseListeners(run(t, "sudo -n ss -tlnH")) {
			if l.addr.IsLoopback() {
				t.Logf("loopback only (dropped by the firewall from elsewhere): %s:%d", l.addr, l.port)
				continue
			}
			if !slices.Contains(allowed, l.port) {
				t.Errorf("%s:%d listens, but the profile declares TCP %v\n%s", l.addr, l.port, allowed, run(t, "sudo -n ss -tlnpH"))
			}
		}
	})

	t.Run("sshd -T", func(t *testing.T) {
		if fs := audit.CheckSSHD([]byte(run(t, "sudo -n /usr/sbin/sshd -T"))); len(fs) > 0 {
			t.Errorf("sshd of the running machine: %v", fs)
		}
	})

	t.Run("runtime state", func(t *testing.T) {
		for cmd, want := range map[string]*regexp.Regexp{
			"sudo -n nft list chain inet filter input":                              regexp.MustCompile(`policy drop;`),
			"sudo -n auditctl -s":                                                   regexp.MustCompile(`(?m)^enabled 2$`),
			"sudo -n auditctl -l | grep -c . ":                                      regexp.MustCompile(`^[1-9][0-9]+$`),
			"cat /sys/module/apparmor/parameters/enabled":                           regexp.MustCompile(`^Y$`),
			"cat /sys/kernel/security/lockdown":                                     regexp.MustCompile(`\[integrity\]`),
			"cat /proc/sys/kernel/kptr_restrict":                                    regexp.MustCompile(`^2$`),
			"cat /proc/sys/kernel/unprivileged_bpf_disabled":                        regexp.MustCompile(`^[12]$`),
			"cat /proc/sys/net/ipv4/conf/all/accept_redirects":                      regexp.MustCompile(`^0$`),
			"cat /proc/sys/fs/suid_dumpable":                                        regexp.MustCompile(`^0$`),
			"findmnt -no OPTIONS /tmp":                                              regexp.MustCompile(`nosuid.*nodev.*noexec|nodev.*nosuid.*noexec`),
			"findmnt -no OPTIONS /var/tmp":                                          regexp.MustCompile(`nosuid.*nodev.*noexec`),
			"findmnt -no OPTIONS /dev/shm":                                          regexp.MustCompile(`nosuid.*nodev.*noexec`),
			"systemctl is-active auditd apparmor nftables rsyslog systemd-journald": regexp.MustCompile(`^(active\n?){5}$`),
			"sudo -n test -d /var/log/journal && echo persistent":                   regexp.MustCompile(`^persistent$`),
			"sudo -n test -s /var/log/sudo.log && echo logged":                      regexp.MustCompile(`^logged$`),
		} {
			r, err := c.Run(cmd)
			if err != nil || r.Status != 0 {
				t.Errorf("%s: %v, exit %d: %s", cmd, err, r.Status, r.Stderr)
				continue
			}
			if got := strings.TrimSpace(string(r.Stdout)); !want.MatchString(got) {
				t.Errorf("%s: %q, want %s", cmd, got, want)
			}
		}
	})
	if p := m.Problems(); len(p) > 0 {
		t.Errorf("console problems: %+v", p)
	}
}

// sshAuditFailures are the lines ssh-audit marks as failures: "(fail)" or "[fail]".
func sshAuditFailures(out string) []string {
	var fails []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "[fail]") || strings.Contains(line, "(fail)") {
			fails = append(fails, strings.TrimSpace(line))
		}
	}
	return fails
}

type listener struct {
	addr netip.Addr
	port int
}

// parseListeners reads `ss -tlnH`: State Recv-Q Send-Q Local:Port Peer:Port.
func parseListeners(out string) []listener {
	var ls []listener
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		local := f[3]
		i := strings.LastIndex(local, ":")
		if i < 0 {
			continue
		}
		port, err := strconv.Atoi(local[i+1:])
		if err != nil {
			continue
		}
		host := strings.Trim(local[:i], "[]")
		if j := strings.Index(host, "%"); j >= 0 { // 127.0.0.53%lo
			host = host[:j]
		}
		addr, err := netip.ParseAddr(host)
		if err != nil {
			addr = netip.IPv6Unspecified() // "*": every address
		}
		ls = append(ls, listener{addr: addr, port: port})
	}
	return ls
}
