package audit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/firstboot/rootfs"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/spec"
)

func symlink(t *testing.T, root, name, target string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// TestAuditReadsTheImageNotTheHost: absolute symlinks in the image lead to the image's
// files. A host file at the same path says something else, and must not be what is judged.
func TestAuditReadsTheImageNotTheHost(t *testing.T) {
	host := t.TempDir() // stands for the audit host's /etc
	if err := os.WriteFile(filepath.Join(host, "admins"), []byte("bob ALL=(ALL) NOPASSWD: ALL\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := tree(t, map[string]string{
		"etc/sudoers": goodSudoers,
		// the image's own file, at the path the link names
		strings.TrimPrefix(host, "/") + "/admins": goodAdmins,
	})
	symlink(t, root, "etc/sudoers.d/admins", filepath.Join(host, "admins"))
	if fs := CheckSudoers(root); len(fs) > 0 {
		t.Errorf("sudoers judged by the host's file: %s", findings(fs))
	}

	d := baseDocker(t)
	files := dockerTree(t, d)
	daemon := files["etc/docker/daemon.json"]
	delete(files, "etc/docker/daemon.json")
	files["etc/docker/daemon.real.json"] = daemon
	// the passwd file too: the remap user is looked up in the image's
	files["usr/share/base-passwd/passwd"] = files["etc/passwd"]
	delete(files, "etc/passwd")
	root = tree(t, files)
	symlink(t, root, "etc/docker/daemon.json", "/etc/docker/daemon.real.json")
	symlink(t, root, "etc/passwd", "/usr/share/base-passwd/passwd")
	if fs, w := CheckDocker(root, policy(d)); len(fs)+len(w) > 0 {
		t.Errorf("docker judged by the host's files: %s, waived %s", findings(fs), findings(w))
	}
}

// TestAuditSeesMaskedUnits: a unit the image masks (a symlink to /dev/null, absolute or
// relative, or an empty file in a higher directory) is masked: the vendor unit below it is
// not read, and a masked unit the profiles need is a finding of its own.
func TestAuditSeesMaskedUnits(t *testing.T) {
	d := baseDocker(t)
	for name, mask := range map[string]func(root string){
		"absolute link": func(root string) { symlink(t, root, "etc/systemd/system/docker.service", "/dev/null") },
		"relative link": func(root string) {
			symlink(t, root, "etc/systemd/system/docker.service", "../../../dev/null")
		},
		"empty file": func(root string) {
			os.WriteFile(filepath.Join(root, "etc/systemd/system/docker.service"), nil, 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			files := dockerTree(t, d)
			// a vendor unit that would be a finding if it were read
			files["lib/systemd/system/docker.service"] = "[Service]\nExecStart=/usr/sbin/dockerd -H tcp://0.0.0.0:2375\n"
			root := tree(t, files)
			os.MkdirAll(filepath.Join(root, "etc/systemd/system"), 0o755)
			mask(root)
			fs, _ := CheckDocker(root, policy(d))
			got := findings(fs)
			if strings.Contains(got, "tcp://0.0.0.0:2375") {
				t.Errorf("the vendor unit under the mask was audited: %s", got)
			}
			if !strings.Contains(got, "docker.service is masked, although the profiles configure Docker") {
				t.Errorf("the mask is not reported: %s", got)
			}
		})
	}
	t.Run("masked drop-in", func(t *testing.T) {
		files := dockerTree(t, d)
		files["lib/systemd/system/docker.service.d/90-tcp.conf"] = "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H tcp://0.0.0.0:2375\n"
		root := tree(t, files)
		symlink(t, root, "etc/systemd/system/docker.service.d/90-tcp.conf", "/dev/null")
		if fs, _ := CheckDocker(root, policy(d)); len(fs) > 0 {
			t.Errorf("a masked drop-in was read: %s", findings(fs))
		}
	})
	t.Run("masked slice", func(t *testing.T) {
		root := tree(t, dockerTree(t, d))
		symlink(t, root, strings.TrimPrefix(spec.ContainersSlicePath, "/"), "/dev/null")
		if got := findings(must(CheckDocker(root, policy(d)))); !strings.Contains(got, "is masked: containers cannot be started in it") {
			t.Errorf("masked slice: %s", got)
		}
	})
}

func must(fs, _ []Finding) []Finding { return fs }

// TestSSHDKeyStaysInTheImage: the throwaway host key for sshd -T is written inside the
// image even when the image's /run is an absolute symlink, and removed again.
func TestSSHDKeyStaysInTheImage(t *testing.T) {
	host := t.TempDir()
	root := tree(t, map[string]string{"var/run/.keep": ""})
	symlink(t, root, "run", host) // an absolute link that names a host directory
	rec := &recordingRunner{}
	if _, err := sshdEffective(t.Context(), rec, root); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(host); len(entries) > 0 {
		t.Fatalf("wrote into the host's directory: %v", entries)
	}
	if !rec.keyInside {
		t.Fatal("the host key was not inside the image while sshd ran")
	}
	if entries, _ := os.ReadDir(filepath.Join(root, host)); len(entries) > 0 {
		t.Fatalf("left behind in the image: %v", entries)
	}
}

// recordingRunner stands for chroot ROOT sshd -T -h KEY: it checks that KEY is in the image.
type recordingRunner struct{ keyInside bool }

func (r *recordingRunner) Run(_ context.Context, c command.Cmd) ([]byte, error) {
	root, key := c.Args[0], c.Args[len(c.Args)-1]
	fsys, err := rootfs.Open(root)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	_, err = fsys.ReadFile(key)
	r.keyInside = err == nil
	return []byte(goodSSHD), nil
}

// TestAuditReadsContinuedLines: a setting continued over lines (a trailing backslash) is one
// value, as systemd reads it: a -H tcp:// on the second line of ExecStart is seen.
func TestAuditReadsContinuedLines(t *testing.T) {
	d := baseDocker(t)
	files := dockerTree(t, d)
	files["etc/systemd/system/docker.service.d/90-tcp.conf"] = "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd \\\n  -H tcp://0.0.0.0:2375 \\\n  --containerd=/run/containerd/containerd.sock\n"
	got := findings(must(CheckDocker(tree(t, files), policy(d))))
	if !strings.Contains(got, "listens on tcp://0.0.0.0:2375 without --tlsverify") {
		t.Errorf("the continued ExecStart was not read whole: %s", got)
	}
}
