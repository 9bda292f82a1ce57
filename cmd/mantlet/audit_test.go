package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/audit"
)

func runAuditCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newAuditCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestAuditRefusesBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\ncolour: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prof := []string{"--image", "../../images/node.yaml", "--profile", "../../profiles/base.yaml"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "accepts 1 arg(s)"},
		{[]string{"a", "b"}, "accepts 1 arg(s)"},
		{[]string{"--image", "../../images/node.yaml", "--profile", bad, "x.raw"}, "colour: unknown field"},
		{append(prof, filepath.Join(t.TempDir(), "missing.raw")), "audit input"},
		{append(prof, "--datastream", filepath.Join(t.TempDir(), "none.xml.gz"), "--report-dir", t.TempDir(), t.TempDir()), "data stream"},
	} {
		_, err := runAuditCmd(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

func TestAuditDefaults(t *testing.T) {
	cmd := newAuditCmd()
	for flag, want := range map[string]string{
		"datastream": "profiles/scap/ssg-debian12-ds.xml.gz",
		"report-dir": "out/audit",
		"profile":    "profiles/base.yaml",
		"image":      "images/node.yaml",
	} {
		if got := cmd.Flags().Lookup(flag).DefValue; got != want {
			t.Errorf("--%s default %q, want %q", flag, got, want)
		}
	}
	if _, err := os.Stat("../../profiles/scap/ssg-debian12-ds.xml.gz"); err != nil {
		t.Errorf("the default data stream is not vendored: %v", err)
	}
}

// TestAuditTree runs the whole audit on a tiny root tree: OpenSCAP on a read-only bind mount,
// reports written, the mount gone afterwards, and a failed verdict (the tree has no sshd).
func TestAuditTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for the read-only bind mount")
	}
	if _, err := exec.LookPath("oscap-chroot"); err != nil {
		t.Skip("needs oscap-chroot (Debian package openscap-utils)")
	}
	root := t.TempDir()
	for name, content := range map[string]string{
		"etc/os-release":           "ID=debian\nVERSION_ID=\"12\"\n",
		"etc/debian_version":       "12.0\n",
		"etc/sudoers":              "@includedir /etc/sudoers.d\n",
		"etc/sudoers.d/admins":     "Defaults use_pty\nDefaults logfile=/var/log/sudo.log\n%sudo ALL=(ALL:ALL) NOPASSWD: ALL\n",
		"var/lib/dpkg/status":      "",
		"etc/ssh/ssh_host_rsa_key": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reports := t.TempDir()
	out, err := runAuditCmd(t, "--image", "../../images/node.yaml", "--profile", "../../profiles/base.yaml",
		"--datastream", "../../profiles/scap/ssg-debian12-ds.xml.gz", "--report-dir", reports, root)
	if !errors.Is(err, audit.ErrFailed) {
		t.Fatalf("error %v, want audit failed; output:\n%s", err, out)
	}
	for _, want := range []string{"CIS Level 1 server", "CIS Level 2 server", "score ", "FAIL     sshd: sshd -T", "FAIL     keys: /etc/ssh/ssh_host_rsa_key", "audit FAILED"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"cis-level1.html", "cis-level1-results.xml", "cis-level2.html", "cis-level2-results.xml"} {
		if _, err := os.Stat(filepath.Join(reports, f)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), "mantlet-audit-") {
		t.Errorf("a mount of the audit is left:\n%s", mounts)
	}
	if _, err := os.Lstat(filepath.Join(root, "run")); !os.IsNotExist(err) {
		t.Errorf("the tree keeps /run of the sshd check: %v", err)
	}
}
