package build

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mantlet/mantlet/firstboot"
	"github.com/mantlet/mantlet/internal/tartree"
)

// layerMember is one entry of a test package layer.
type layerMember struct {
	name, data, link string
	typ              byte
	mode             int64
	gid              int
}

func dir(name string) layerMember { return layerMember{name: name, typ: tar.TypeDir, mode: 0o755} }
func file(name, data string) layerMember {
	return layerMember{name: name, typ: tar.TypeReg, mode: 0o644, data: data}
}
func symlink(name, target string) layerMember {
	return layerMember{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}

// testLayer is a small package layer as mmdebstrap makes one: merged /usr, accounts, units,
// what the configuration removes.
func testLayer() []layerMember {
	return []layerMember{
		dir("./"), symlink("./bin", "usr/bin"), dir("./boot/"),
		file("./boot/config-6.1.0-28-amd64", "config"),
		file("./boot/initrd.img-6.1.0-28-amd64", "initrd"),
		file("./boot/vmlinuz-6.1.0-28-amd64", "kernel"),
		dir("./etc/"),
		file("./etc/group", "root:x:0:\nshadow:x:42:\nstaff:x:50:\nnogroup:x:65534:\n"),
		{name: "./etc/gshadow", typ: tar.TypeReg, mode: 0o640, gid: 42, data: "root:*::\nshadow:*::\nstaff:*::\nnogroup:*::\n"},
		file("./etc/hostname", "builder\n"),
		file("./etc/machine-id", "uninitialized\n"),
		file("./etc/passwd", "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
		{name: "./etc/shadow", typ: tar.TypeReg, mode: 0o640, gid: 42, data: "root:*:20089:0:99999:7:::\nnobody:*:20089:0:99999:7:::\n"},
		dir("./etc/ssh/"),
		{name: "./etc/ssh/ssh_host_ed25519_key", typ: tar.TypeReg, mode: 0o600, data: "PRIVATE"},
		file("./etc/ssh/ssh_host_ed25519_key.pub", "PUBLIC"),
		file("./etc/ssh/sshd_config", "# Debian's\n"),
		file("./etc/subgid", ""), file("./etc/subuid", ""),
		dir("./etc/systemd/"), dir("./etc/systemd/system/"),
		dir("./home/"), dir("./home/someone/"),
		symlink("./initrd.img", "boot/initrd.img-6.1.0-28-amd64"),
		symlink("./lib", "usr/lib"),
		dir("./srv/"),
		dir("./usr/"), dir("./usr/bin/"), dir("./usr/lib/"),
		dir("./usr/lib/sysusers.d/"),
		file("./usr/lib/sysusers.d/basic.conf", "g root 0\nu nobody 65534:65534\n"),
		dir("./usr/lib/systemd/"), dir("./usr/lib/systemd/system/"),
		file("./usr/lib/systemd/system/getty@.service", "[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n"),
		file("./usr/lib/systemd/system/ssh.service", "[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n"),
		file("./usr/lib/systemd/system/systemd-networkd.service", "[Install]\nWantedBy=multi-user.target\nAlso=systemd-networkd.socket\n"),
		file("./usr/lib/systemd/system/systemd-networkd.socket", "[Install]\nWantedBy=sockets.target\n"),
		dir("./usr/share/"), dir("./usr/share/systemd/"),
		file("./usr/share/systemd/tmp.mount", "[Mount]\nWhat=tmpfs\n[Install]\nWantedBy=local-fs.target\n"),
		dir("./var/"), dir("./var/cache/"), dir("./var/cache/ldconfig/"), file("./var/cache/ldconfig/aux-cache", "cache"),
		dir("./var/lib/"), dir("./var/lib/dbus/"), symlink("./var/lib/dbus/machine-id", "/etc/machine-id"),
		dir("./var/log/"), dir("./var/log/apt/"), file("./var/log/apt/history.log", "log"), file("./var/log/dpkg.log", "log"),
		symlink("./vmlinuz", "boot/vmlinuz-6.1.0-28-amd64"),
	}
}

func writeLayer(t *testing.T, ms []layerMember) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Typeflag: m.typ, Name: m.name, Linkname: m.link, Mode: m.mode, Gid: m.gid,
			ModTime: time.Unix(1735689600, 0), Format: tar.FormatPAX}
		if m.typ == tar.TypeReg {
			h.Size = int64(len(m.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, m.data)
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// entries reads an archive: path to "type mode uid:gid" plus the target or a digest of the data.
func entries(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		what := fmt.Sprintf("%c %04o %d:%d", h.Typeflag, h.Mode, h.Uid, h.Gid)
		switch {
		case h.Typeflag == tar.TypeSymlink:
			what += " -> " + h.Linkname
		case h.Typeflag == tar.TypeReg && len(data) < 80 && !bytes.ContainsAny(data, "\x00"):
			what += " " + fmt.Sprintf("%q", data)
		case h.Typeflag == tar.TypeReg:
			what += fmt.Sprintf(" %d bytes sha256:%x", len(data), sha256.Sum256(data))[:40]
		}
		out[tartree.Clean(h.Name)] = what
	}
}

// configured runs configureTree over a layer and returns the layer's and the result's entries.
func configured(t *testing.T, ms []layerMember, mutate func(*tartree.Tree)) (before, after map[string]string, tree *tartree.Tree) {
	t.Helper()
	file := writeLayer(t, ms)
	f, _ := os.Open(file)
	before = entries(t, f)
	f.Close()
	tr, err := tartree.Open(file, time.Unix(1735689600, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if mutate != nil {
		mutate(tr)
	}
	if err := configureTree(tr, testPlan(), []byte("\x7fELF agent")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := tr.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return before, entries(t, &buf), tr
}

// TestConfigureGolden pins what the configuration does to a package layer: every entry it
// adds, changes or removes.
func TestConfigureGolden(t *testing.T) {
	before, after, _ := configured(t, testLayer(), nil)
	var lines []string
	for p, a := range after {
		switch b, ok := before[p]; {
		case !ok:
			lines = append(lines, "+ /"+p+"  "+a)
		case a != b:
			lines = append(lines, "~ /"+p+"  "+a)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			lines = append(lines, "- /"+p)
		}
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][2:] < lines[j][2:] })
	golden(t, "configure.golden", []byte(strings.Join(lines, "\n")+"\n"))
}

func TestConfigureEssentials(t *testing.T) {
	_, after, tr := configured(t, testLayer(), nil)
	for p, want := range map[string]string{
		strings.TrimPrefix(firstboot.BinaryPath, "/"): `0 0755 0:0 "\x7fELF agent"`,
		"etc/motd":           `0 0644 0:0 "hi\n"`,
		"usr/local/bin/it's": `0 0755 0:50 "#!/bin/sh\n"`, // root:staff
		"etc/machine-id":     `0 0644 0:0 ""`,
		"home":               "2 0777 0:0 -> var/home",
		"srv":                "2 0777 0:0 -> var/srv",
		"etc/systemd/system/getty.target.wants/getty@tty1.service":        "", // masked below, not enabled: stays absent
		"etc/systemd/system/getty@tty1.service":                           "2 0777 0:0 -> /dev/null",
		"etc/systemd/system/multi-user.target.wants/ssh.service":          "2 0777 0:0 -> /lib/systemd/system/ssh.service",
		"etc/systemd/system/sshd.service":                                 "2 0777 0:0 -> /lib/systemd/system/ssh.service",
		"etc/systemd/system/sockets.target.wants/systemd-networkd.socket": "2 0777 0:0 -> /lib/systemd/system/systemd-networkd.socket",
		"etc/systemd/system/local-fs.target.wants/tmp.mount":              "2 0777 0:0 -> /etc/systemd/system/tmp.mount",
		"etc/subuid": `0 0644 0:0 "dockremap:100000:65536\n"`,
	} {
		if got := after[p]; got != want {
			t.Errorf("/%s: %q, want %q", p, got, want)
		}
	}
	for _, gone := range []string{"etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub", "etc/hostname", "var/lib/dbus/machine-id",
		"boot/vmlinuz-6.1.0-28-amd64", "boot/initrd.img-6.1.0-28-amd64", "vmlinuz", "initrd.img", "var/log/apt/history.log",
		"var/log/dpkg.log", "var/cache/ldconfig/aux-cache", "home/someone"} {
		if _, ok := after[gone]; ok {
			t.Errorf("/%s is still in the tree", gone)
		}
	}
	if _, ok := after["boot/config-6.1.0-28-amd64"]; !ok {
		t.Error("only the kernel and initrd leave /boot")
	}
	passwd, _ := tr.ReadFile("/etc/passwd")
	if !strings.Contains(string(passwd), "dockremap:x:999:999:Docker user namespaces:/nonexistent:/usr/sbin/nologin\n") {
		t.Errorf("no dockremap user:\n%s", passwd)
	}
	if _, err := inspectTree(tr); err != nil {
		t.Fatal(err)
	}
}

func TestConfigureUnknownOwner(t *testing.T) {
	p := testPlan()
	p.Files[0].Owner = "ghost:root"
	tr, err := tartree.Open(writeLayer(t, testLayer()), time.Unix(1735689600, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	err = configureTree(tr, p, []byte("agent"))
	if err == nil || !strings.Contains(err.Error(), "profile file /etc/motd: owner ghost:root: the image has no user ghost") {
		t.Fatalf("got %v", err)
	}
}

func TestKernelVersion(t *testing.T) {
	open := func(ms []layerMember) *tartree.Tree {
		tr, err := tartree.Open(writeLayer(t, ms), time.Unix(1735689600, 0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	if v, err := kernelVersion(open(testLayer())); err != nil || v != "6.1.0-28-amd64" {
		t.Fatalf("got %q, %v", v, err)
	}
	if _, err := kernelVersion(open([]layerMember{dir("./"), dir("./boot/")})); err == nil || !strings.Contains(err.Error(), "no kernel") {
		t.Fatalf("no kernel: %v", err)
	}
	two := append(testLayer(), file("./boot/vmlinuz-6.1.0-29-amd64", "k"))
	if _, err := kernelVersion(open(two)); err == nil || !strings.Contains(err.Error(), "2 kernels") {
		t.Fatalf("two kernels: %v", err)
	}
}
