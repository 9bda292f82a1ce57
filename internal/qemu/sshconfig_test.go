package qemu

import (
	"crypto/ed25519"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n%s\nwant\n%s", name, got, want)
	}
}

// fixedKey is an ed25519 public key from a fixed seed, so that golden files are stable.
func fixedKey(t *testing.T, seed byte) ssh.PublicKey {
	t.Helper()
	priv := ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune(seed)), ed25519.SeedSize)))
	k, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSSHConfigGolden(t *testing.T) {
	hosts := []SSHHost{
		{Name: "ctl-1", Port: 40001, Keys: []ssh.PublicKey{fixedKey(t, 'a'), fixedKey(t, 'b')}},
		{Name: "wrk-1", Port: 40002, Keys: []ssh.PublicKey{fixedKey(t, 'c')}},
	}
	golden(t, "ssh_config", SSHConfig("demo", hosts, "admin", "/home/me/.ssh/id ed25519", "/out/ssh_config.known_hosts"))
	golden(t, "known_hosts", KnownHosts(hosts))
	if cfg := SSHConfig("demo", hosts, "admin", "", "/k"); strings.Contains(cfg, "IdentityFile") {
		t.Errorf("no identity file, yet:\n%s", cfg)
	}
}

// Console lines of several nodes reach one terminal whole, prefixed, cleaned of escape
// sequences; a line split across writes is joined.
func TestPrefixWriter(t *testing.T) {
	var mu sync.Mutex
	var out strings.Builder
	a := &prefixWriter{mu: &mu, w: &out, prefix: "ctl-1 | "}
	b := &prefixWriter{mu: &mu, w: &out, prefix: "wrk-1 | "}
	a.Write([]byte("\x1b[0;32m  OK  \x1b[0m] Reached tar"))
	b.Write([]byte("login: \r\n\r\n"))
	a.Write([]byte("get multi-user.target\r\nhalf"))
	want := "wrk-1 | login:\nctl-1 | OK  ] Reached target multi-user.target\n"
	if out.String() != want {
		t.Errorf("terminal got %q, want %q", out.String(), want)
	}
	a.Write([]byte(strings.Repeat("x", 5000)))
	if !strings.HasSuffix(out.String(), "ctl-1 | half"+strings.Repeat("x", 5000)+"\n") {
		t.Errorf("an endless line is not cut: %q", out.String()[len(want):][:40])
	}
}

func TestClusterMAC(t *testing.T) {
	for i, want := range map[int]string{0: "52:54:00:6d:00:01", 1: "52:54:00:6d:00:02", 299: "52:54:00:6d:01:2c"} {
		if got := clusterMAC(i); got != want {
			t.Errorf("clusterMAC(%d) = %s, want %s", i, got, want)
		}
	}
}

// OpenSSH itself reads the config as meant (ssh -G prints what it would use).
func TestSSHConfigOpenSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client (openssh-client) on this machine")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssh config")
	hosts := []SSHHost{{Name: "ctl-1", Port: 40001, Keys: []ssh.PublicKey{fixedKey(t, 'a')}}}
	if err := os.WriteFile(cfg, []byte(SSHConfig("demo", hosts, "admin", filepath.Join(dir, "my id"), filepath.Join(dir, "known hosts"))), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh", "-G", "-F", cfg, "ctl-1").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh -G: %v\n%s", err, out)
	}
	for _, want := range []string{
		"hostname 127.0.0.1", "port 40001", "user admin", "hostkeyalias ctl-1", "stricthostkeychecking true",
		"userknownhostsfile " + filepath.Join(dir, "known hosts"), "globalknownhostsfile none",
		"identityfile " + filepath.Join(dir, "my id"), "identitiesonly yes", "updatehostkeys false",
	} {
		if !strings.Contains(string(out), "\n"+want+"\n") {
			t.Errorf("ssh -G does not show %q:\n%s", want, out)
		}
	}
}
