package build

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCustomizeScriptGolden(t *testing.T) {
	golden(t, "customize.sh.golden", []byte(customizeScript(testPlan())))
}

func TestCustomizeScriptQuotesPaths(t *testing.T) {
	s := customizeScript(testPlan())
	if !strings.Contains(s, `chown 'root:staff' '/usr/local/bin/it'\''s'`) {
		t.Fatalf("path with a quote not quoted:\n%s", s)
	}
	for _, must := range []string{"rm -f /etc/ssh/ssh_host_*", ": > /etc/machine-id", "systemctl enable tmp.mount"} {
		if !strings.Contains(s, must) {
			t.Errorf("script lacks %q", must)
		}
	}
}

// The dockremap user comes with userns-remap only.
func TestCustomizeScriptDockremap(t *testing.T) {
	p := testPlan()
	if s := customizeScript(p); !strings.Contains(s, "useradd --system --gid dockremap") || !strings.Contains(s, "echo 'dockremap:100000:65536' >> /etc/subgid") {
		t.Errorf("userns-remap without the dockremap user:\n%s", s)
	}
	p.Docker.UsernsRemap = false
	if s := customizeScript(p); strings.Contains(s, "dockremap") {
		t.Errorf("dockremap made although userns-remap is off:\n%s", s)
	}
	p.Docker = nil
	if s := customizeScript(p); strings.Contains(s, "dockremap") {
		t.Errorf("dockremap made without Docker:\n%s", s)
	}
}

func TestCopyEmbeddedMakesScriptsExecutable(t *testing.T) {
	dst := t.TempDir()
	if err := copyEmbedded(imageFiles, "imagefiles", dst); err != nil {
		t.Fatal(err)
	}
	for path, wantExec := range map[string]bool{
		"etc/initramfs-tools/hooks/mantlet":                true,
		"etc/initramfs-tools/scripts/local-top/mantlet":    true,
		"etc/initramfs-tools/scripts/local-bottom/mantlet": true,
		"etc/initramfs-tools/conf.d/mantlet.conf":          false,
	} {
		fi, err := os.Stat(filepath.Join(dst, path))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode()&0o111 != 0; got != wantExec {
			t.Errorf("%s: executable = %v, want %v", path, got, wantExec)
		}
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b")
	if err := writeFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(data) != "two" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("got %q %v", data, fi.Mode())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

// TestCustomizeScriptChecksSudoers: the customize script runs visudo's check, and that check
// (the same command, with the real visudo on this machine) refuses a sudoers.d file with a
// typo, included from the main file, and passes good ones.
func TestCustomizeScriptChecksSudoers(t *testing.T) {
	script := customizeScript(testPlan())
	if !strings.Contains(script, "if [ -e /etc/sudoers ]; then\n  "+visudoCheck+" >&2 || {") {
		t.Fatalf("the customize script does not check sudoers:\n%s", script)
	}
	if _, err := exec.LookPath("visudo"); err != nil {
		t.Skip("visudo not installed (Debian package sudo; make deps)")
	}
	dir := t.TempDir()
	main := filepath.Join(dir, "sudoers")
	os.Mkdir(filepath.Join(dir, "sudoers.d"), 0o755)
	os.WriteFile(main, []byte("Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n@includedir "+filepath.Join(dir, "sudoers.d")+"\n"), 0o440)
	check := func() error {
		return exec.Command("sh", "-c", visudoCheck+" --file="+main).Run()
	}
	admins := filepath.Join(dir, "sudoers.d", "admins")
	os.WriteFile(admins, []byte("%sudo ALL=(ALL:ALL) NOPASSWD: ALL\nDefaults use_pty\n"), 0o440)
	if err := check(); err != nil {
		t.Fatalf("good sudoers refused: %v", err)
	}
	for name, bad := range map[string]string{
		"typo":            "%sudo ALL=(ALL:ALL NOPASSWD: ALL\n",
		"undefined alias": "%sudo ALL=(ALL:ALL) NOPASSWD: ADMINCMDS\n",
	} {
		os.WriteFile(admins, []byte(bad), 0o440)
		if err := check(); err == nil {
			t.Errorf("%s: a broken sudoers.d file passed the check", name)
		}
	}
}
