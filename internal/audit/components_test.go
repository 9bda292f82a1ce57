package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goodSSHD is sshd -T output of a hardened image (the settings the checks read).
const goodSSHD = `port 22
permitrootlogin no
pubkeyauthentication yes
passwordauthentication no
kbdinteractiveauthentication no
permitemptypasswords no
x11forwarding no
allowtcpforwarding no
allowagentforwarding no
maxauthtries 3
banner /etc/issue.net
ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr
kexalgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256
macs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com
`

func findings(fs []Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return strings.Join(s, "\n")
}

func TestCheckSSHD(t *testing.T) {
	if fs := CheckSSHD([]byte(goodSSHD)); len(fs) > 0 {
		t.Errorf("good config: %s", findings(fs))
	}
	for name, tc := range map[string]struct{ from, to, want string }{
		"root login":     {"permitrootlogin no", "permitrootlogin without-password", "permitrootlogin"},
		"passwords":      {"passwordauthentication no", "passwordauthentication yes", "passwordauthentication"},
		"kbd":            {"kbdinteractiveauthentication no", "kbdinteractiveauthentication yes", "kbdinteractiveauthentication"},
		"x11":            {"x11forwarding no", "x11forwarding yes", "x11forwarding"},
		"tcp forwarding": {"allowtcpforwarding no", "allowtcpforwarding local", "allowtcpforwarding"},
		"agent":          {"allowagentforwarding no", "allowagentforwarding yes", "allowagentforwarding"},
		"max auth tries": {"maxauthtries 3", "maxauthtries 6", "maxauthtries"},
		"no banner":      {"banner /etc/issue.net", "banner none", "banner"},
		"weak cipher":    {"aes128-ctr", "aes128-cbc", "ciphers: offers aes128-cbc"},
		"weak kex":       {"curve25519-sha256\n", "curve25519-sha256,ecdh-sha2-nistp256,diffie-hellman-group14-sha256\n", "kexalgorithms: offers ecdh-sha2-nistp256,diffie-hellman-group14-sha256"},
		"weak mac":       {"hmac-sha2-256-etm@openssh.com\n", "hmac-sha1\n", "macs: offers hmac-sha1"},
		"missing macs":   {"macs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com\n", "", "macs: not in the sshd -T output"},
	} {
		out := strings.Replace(goodSSHD, tc.from, tc.to, 1)
		if out == goodSSHD {
			t.Fatalf("%s: %q not in the good config", name, tc.from)
		}
		got := findings(CheckSSHD([]byte(out)))
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: findings %q, want %q", name, got, tc.want)
		}
	}
	if fs := CheckSSHD(nil); len(fs) != 1 {
		t.Errorf("empty output: %v", fs)
	}
}

// tree writes files (path -> content, mode 0644 unless the path has a mode suffix) under a
// temporary root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		mode := os.FileMode(0o644)
		if p, m, ok := strings.Cut(name, "@"); ok {
			name = p
			mode = map[string]os.FileMode{"600": 0o600, "644": 0o644, "440": 0o440}[m]
		}
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const goodSudoers = "Defaults env_reset\n%sudo ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n"
const goodAdmins = "Defaults use_pty\nDefaults logfile=/var/log/sudo.log\n%sudo ALL=(ALL:ALL) NOPASSWD: ALL\n"

func TestCheckSudoers(t *testing.T) {
	if fs := CheckSudoers(tree(t, map[string]string{"etc/sudoers": goodSudoers, "etc/sudoers.d/admins": goodAdmins})); len(fs) > 0 {
		t.Errorf("good sudoers: %s", findings(fs))
	}
	if fs := CheckSudoers(tree(t, map[string]string{"etc/motd": ""})); len(fs) > 0 {
		t.Errorf("no sudo: %s", findings(fs))
	}
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"nopasswd user": {map[string]string{"etc/sudoers": goodSudoers, "etc/sudoers.d/admins": goodAdmins, "etc/sudoers.d/app": "app ALL=(root) NOPASSWD: /bin/systemctl\n"}, "NOPASSWD or !authenticate for app"},
		"continued":     {map[string]string{"etc/sudoers": goodSudoers, "etc/sudoers.d/admins": goodAdmins + "deploy ALL=(ALL) \\\n  NOPASSWD: ALL\n"}, "for deploy"},
		"no use_pty":    {map[string]string{"etc/sudoers": goodSudoers, "etc/sudoers.d/admins": strings.Replace(goodAdmins, "Defaults use_pty\n", "", 1)}, "Defaults use_pty: not set"},
		"no logfile":    {map[string]string{"etc/sudoers": goodSudoers, "etc/sudoers.d/admins": strings.Replace(goodAdmins, "Defaults logfile=/var/log/sudo.log\n", "", 1)}, "Defaults logfile: not set"},
		"commented":     {map[string]string{"etc/sudoers": goodSudoers, "etc/sudoers.d/admins": "# Defaults use_pty\nDefaults logfile=/var/log/sudo.log\n"}, "use_pty: not set"},
	} {
		got := findings(CheckSudoers(tree(t, tc.files)))
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: findings %q, want %q", name, got, tc.want)
		}
	}
	// sudo skips files with a dot in their name: their NOPASSWD does not count.
	if fs := CheckSudoers(tree(t, map[string]string{"etc/sudoers": goodSudoers, "etc/sudoers.d/admins": goodAdmins, "etc/sudoers.d/README.txt": "x ALL=NOPASSWD: ALL\n"})); len(fs) > 0 {
		t.Errorf("skipped file counted: %s", findings(fs))
	}
}

func TestCheckKeyMaterial(t *testing.T) {
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n"
	root := tree(t, map[string]string{
		"etc/ssl/private/node.key@600":     key,
		"etc/ssl/private/leak.key@644":     "-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n",
		"etc/ssh/ssh_host_ed25519_key@644": "anything",
		"etc/ssh/ssh_host_ed25519_key.pub": "ssh-ed25519 AAAA",
		"etc/ssl/certs/ca.pem@644":         "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
		"etc/docs/howto@644":               "a text about PRIVATE KEY-----",
	})
	got := findings(CheckKeyMaterial(root))
	for _, want := range []string{"/etc/ssl/private/leak.key", "/etc/ssh/ssh_host_ed25519_key:"} {
		if !strings.Contains(got, want) {
			t.Errorf("findings lack %s:\n%s", want, got)
		}
	}
	for _, not := range []string{"node.key", ".pub", "ca.pem", "howto"} {
		if strings.Contains(got, not) {
			t.Errorf("findings have %s:\n%s", not, got)
		}
	}
}

func TestCheckFiles(t *testing.T) {
	root := tree(t, map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":    "root:x:0:\n",
		"etc/ok":       "",
		"etc/writable": "",
		"tmp/x":        "",
	})
	for p, mode := range map[string]os.FileMode{"etc/writable": 0o666, "tmp/x": 0o666} {
		if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "sticky"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(root, "sticky"), 0o777|os.ModeSticky)
	if err := os.WriteFile(filepath.Join(root, "etc/stranger"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(filepath.Join(root, "etc/stranger"), 4242, 4343); err != nil {
			t.Fatal(err)
		}
	}
	got := findings(CheckFiles(root))
	if !strings.Contains(got, "files: /etc/writable: world-writable") {
		t.Errorf("world-writable file not found:\n%s", got)
	}
	if os.Geteuid() == 0 && (!strings.Contains(got, "/etc/stranger: owned by uid 4242") || !strings.Contains(got, "/etc/stranger: group gid 4343")) {
		t.Errorf("unowned file not found:\n%s", got)
	}
	for _, not := range []string{"/etc/ok", "/tmp/x", "/sticky"} {
		if strings.Contains(got, not+":") {
			t.Errorf("finding for %s:\n%s", not, got)
		}
	}
}
