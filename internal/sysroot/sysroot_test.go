package sysroot

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/tartree"
)

var epoch = time.Unix(1735689600, 0)

// files is a root tree: path (relative) to content; a value "-> target" is a symlink.
type files map[string]string

// writeDir writes fs under dir.
func writeDir(t *testing.T, dir string, f files) {
	t.Helper()
	for p, data := range f {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(data, "-> "); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// treeOf tars dir with GNU tar (as mmdebstrap would) and opens it as a tree.
func treeOf(t *testing.T, dir string) *tartree.Tree {
	t.Helper()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar not installed")
	}
	file := filepath.Join(t.TempDir(), "root.tar")
	if out, err := exec.Command("tar", "--sort=name", "--numeric-owner", "--format=pax", "-C", dir, "-cf", file, ".").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	tr, err := tartree.Open(file, epoch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// copyDir copies a fixture directory (symlinks as symlinks).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// links lists the symlinks and files under dir/etc/systemd/system of a directory.
func dirLinks(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	base := filepath.Join(root, "etc/systemd/system")
	filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.Type()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			out = append(out, "/"+rel+" -> "+target)
		} else {
			out = append(out, "/"+rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// treeLinks lists the same of a tree.
func treeLinks(t *testing.T, tr *tartree.Tree) []string {
	t.Helper()
	var out []string
	if !tr.Exists("/etc/systemd/system") {
		return nil
	}
	if err := tr.Walk("/etc/systemd/system", func(i tartree.Info) error {
		switch {
		case i.IsSymlink():
			out = append(out, i.Path+" -> "+i.Linkname)
		case !i.IsDir():
			out = append(out, i.Path)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func requireTool(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: the comparison with the real tool needs it", tool)
		}
	}
}

func run(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// unitFixture is a root tree with units of every shape systemctl's [Install] knows, and the
// build machine's own Debian units where they exist.
func unitFixture(t *testing.T) string {
	dir := t.TempDir()
	f := files{
		"lib":                                   "-> usr/lib",
		"usr/lib/systemd/system/a.service":      "[Unit]\nDescription=a\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=a-alias.service\nAlso=a.socket\n",
		"usr/lib/systemd/system/a.socket":       "[Socket]\nListenStream=1\n[Install]\nWantedBy=sockets.target\n",
		"usr/lib/systemd/system/b.service":      "[Service]\nExecStart=/bin/true\n[Install]\nRequiredBy=x.target\nWantedBy=y.target \\\n  z.target\n",
		"usr/lib/systemd/system/c@.service":     "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n",
		"usr/lib/systemd/system/d.service":      "[Service]\nExecStart=/bin/true\n",
		"usr/lib/systemd/system/e.service":      "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nWantedBy=\nWantedBy=other.target\n",
		"usr/lib/systemd/system/f.service":      "[Service]\nExecStart=/bin/true\n[Install]\n# a comment\nWantedBy=%N-extra.target\n",
		"usr/lib/systemd/system/g.service":      "[Service]\nExecStart=/bin/true\n[Install]\nUpheldBy=multi-user.target\n",
		"usr/lib/systemd/system/h-link.service": "-> a.service",
		"usr/lib/systemd/system/tmp.mount":      "[Mount]\nWhat=tmpfs\nWhere=/tmp\n[Install]\nWantedBy=local-fs.target\n",
		"etc/systemd/system/local.service":      "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
		// What a package's postinst enabled already.
		"etc/systemd/system/multi-user.target.wants/old.service": "-> /lib/systemd/system/old.service",
		"usr/lib/systemd/system/old.service":                     "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=old-alias.service\n",
		"etc/systemd/system/old-alias.service":                   "-> /lib/systemd/system/old.service",
	}
	for _, u := range hostUnits {
		if data, err := os.ReadFile("/lib/systemd/system/" + u); err == nil {
			f["usr/lib/systemd/system/"+u] = string(data)
		}
	}
	writeDir(t, dir, f)
	return dir
}

// hostUnits are units of the build machine (Debian 12) that images enable: real [Install]
// sections, with Also= and Alias=.
var hostUnits = []string{"systemd-networkd.service", "systemd-networkd.socket", "systemd-networkd-wait-online.service",
	"systemd-network-generator.service", "systemd-timesyncd.service", "systemd-resolved.service", "ssh.service",
	"docker.service", "docker.socket", "containerd.service", "getty@.service"}

func presentHostUnits(dir string) []string {
	var out []string
	for _, u := range hostUnits {
		if _, err := os.Stat(filepath.Join(dir, "usr/lib/systemd/system", u)); err == nil && !strings.Contains(u, "@") && !strings.HasSuffix(u, ".socket") && !strings.Contains(u, "generator") && !strings.Contains(u, "wait-online") {
			out = append(out, u)
		}
	}
	return out
}

// TestUnitsLikeSystemctl enables, disables and masks units in a tree and with systemctl
// --root in a directory of the same files: the links must be the same.
func TestUnitsLikeSystemctl(t *testing.T) {
	requireTool(t, "systemctl")
	fixture := unitFixture(t)
	host := presentHostUnits(fixture)
	cases := []struct {
		name                  string
		enable, disable, mask []string
	}{
		{name: "enable", enable: append([]string{"a.service", "b.service", "c@.service", "d.service", "e.service", "f.service", "g.service", "local.service", "tmp.mount", "c@tty2.service"}, host...)},
		{name: "enable an alias", enable: []string{"h-link.service"}},
		{name: "enable then disable", enable: append([]string{"a.service", "c@.service", "b.service"}, host...), disable: append([]string{"a.service", "c@.service", "old.service"}, host...)},
		{name: "mask", enable: []string{"b.service"}, mask: []string{"d.service", "nothing.service", "b.service"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			real := t.TempDir()
			copyDir(t, fixture, real)
			tr := treeOf(t, fixture)
			for _, step := range []struct {
				verb  string
				units []string
				fn    func(*tartree.Tree, ...string) error
			}{{"enable", tc.enable, Enable}, {"disable", tc.disable, Disable}, {"mask", tc.mask, Mask}} {
				if len(step.units) == 0 {
					continue
				}
				run(t, nil, "systemctl", append([]string{"--root=" + real, "--quiet", step.verb}, step.units...)...)
				if err := step.fn(tr, step.units...); err != nil {
					t.Fatalf("%s: %v", step.verb, err)
				}
			}
			want, got := dirLinks(t, real), treeLinks(t, tr)
			if strings.Join(want, "\n") != strings.Join(got, "\n") {
				t.Errorf("links differ from systemctl's:\n--- systemctl ---\n%s\n--- tree ---\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
			}
		})
	}
}

func TestUnitErrors(t *testing.T) {
	dir := t.TempDir()
	writeDir(t, dir, files{
		"lib":                              "-> usr/lib",
		"usr/lib/systemd/system/a.service": "[Install]\nWantedBy=multi-user.target\nAlso=missing.service\n",
		"usr/lib/systemd/system/b.service": "[Install]\nWantedBy=%u.target\n",
		"usr/lib/systemd/system/c.service": "[Install]\nWantedBy=multi-user.target\n",
		"etc/systemd/system/multi-user.target.wants/c.service": "-> /elsewhere/c.service",
		"etc/systemd/system/m.service":                         "-> /dev/null",
		"etc/systemd/system/own.service":                       "[Service]\n",
	})
	tr := treeOf(t, dir)
	for _, tc := range []struct {
		fn    func(*tartree.Tree, ...string) error
		unit  string
		wants string
	}{
		{Enable, "nothing.service", "no unit file"},
		{Enable, "a.service", "missing.service: no unit file in /etc/systemd/system"},
		{Enable, "b.service", "specifier %u is not supported"},
		{Enable, "c.service", "already exists and is a symlink to /elsewhere/c.service"},
		{Enable, "m.service", "is masked"},
		{Mask, "own.service", "is a unit file, not a link"},
	} {
		err := tc.fn(tr, tc.unit)
		if err == nil || !strings.Contains(err.Error(), tc.wants) {
			t.Errorf("%s: got %v, want %q", tc.unit, err, tc.wants)
		}
	}
}

// sysusersConf is a profile's sysusers.d file with every kind of line the build supports.
const sysusersConf = `# mantlet test
g sugroup - -
u svc - "Service user" /var/lib/svc
u fixed 850 "Fixed id"
g withid 851
u pair 860:withid "A user in a group of its own choice" / /bin/sh
m svc sugroup
m fixed sugroup
m newmember newgroup
m bb newgroup
m aa newgroup
u messagebus - "exists already"
`

// TestAccountsLikeShadowAndSysusers makes Docker's remap account (groupadd and useradd
// --system) and runs the sysusers.d files over the accounts of a Debian 12 package layer, in a
// tree and with the real tools (--prefix, --root) in a directory: the databases must be equal,
// byte for byte.
func TestAccountsLikeShadowAndSysusers(t *testing.T) {
	requireTool(t, "groupadd", "useradd", "systemd-sysusers")
	if os.Geteuid() != 0 {
		t.Skip("useradd --prefix needs root")
	}
	fixture := t.TempDir()
	copyDir(t, "testdata/debian12", fixture)
	writeDir(t, fixture, files{"etc/sysusers.d/mantlet.conf": sysusersConf})

	real := t.TempDir()
	copyDir(t, fixture, real)
	env := []string{"SOURCE_DATE_EPOCH=1735689600"}
	run(t, env, "groupadd", "--prefix", real, "--system", "dockremap")
	run(t, env, "useradd", "--prefix", real, "--system", "--gid", "dockremap", "--no-create-home", "--home-dir", "/nonexistent",
		"--shell", "/usr/sbin/nologin", "--comment", "Docker user namespaces", "dockremap")
	run(t, env, "systemd-sysusers", "--root="+real)

	tr := treeOf(t, fixture)
	a, err := LoadAccounts(tr, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddSystemGroup("dockremap"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddSystemUser(SystemUser{Name: "dockremap", Group: "dockremap", Comment: "Docker user namespaces", Home: "/nonexistent", Shell: "/usr/sbin/nologin"}); err != nil {
		t.Fatal(err)
	}
	if err := Sysusers(a); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"} {
		want, _ := os.ReadFile(filepath.Join(real, f))
		got, err := tr.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the real tools':\n--- real ---\n%s\n--- tree ---\n%s", f, want, got)
		}
	}
	if o, err := a.Owner("svc:sugroup"); err != nil || o.UID == 0 || o.GID == 0 {
		t.Errorf("owner svc:sugroup: %+v, %v", o, err)
	}
	if _, err := a.Owner("nobody-here:root"); err == nil || !strings.Contains(err.Error(), "no user nobody-here") {
		t.Errorf("unknown owner: %v", err)
	}
}

func TestSysusersRefusesWhatItCannotDo(t *testing.T) {
	for line, want := range map[string]string{
		"r - 500-900":         `line type "r" is not supported`,
		"u x /usr/bin/thing":  "ids from a file's owner",
		"u %b -":              "specifiers",
		`u y - "unterminated`: "unterminated quote",
		"g z notanumber":      `group id "notanumber" is not a number`,
	} {
		dir := t.TempDir()
		copyDir(t, "testdata/debian12", dir)
		writeDir(t, dir, files{"etc/sysusers.d/bad.conf": "# first\n" + line + "\n"})
		a, err := LoadAccounts(treeOf(t, dir), epoch)
		if err != nil {
			t.Fatal(err)
		}
		err = Sysusers(a)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "/etc/sysusers.d/bad.conf:2") {
			t.Errorf("%q: got %v, want %q at bad.conf:2", line, err, want)
		}
	}
}
