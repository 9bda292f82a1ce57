package firstboot

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mantlet/mantlet/internal/command"
)

// referenceIgnition builds the pinned reference Ignition (testdata/ignition-ref) or skips
// the test, naming what is missing.
func referenceIgnition(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("conformance against the reference Ignition: skipped in -short mode")
	}
	if out, err := exec.Command("go", "env", "CGO_ENABLED").Output(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Skip("conformance: the reference Ignition needs cgo (CGO_ENABLED=1 and a C compiler)")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("conformance: the reference Ignition needs cgo: no gcc")
	}
	if _, err := os.Stat("/usr/include/blkid/blkid.h"); err != nil {
		t.Skip("conformance: the reference Ignition needs libblkid-dev (apt-get install libblkid-dev)")
	}
	if os.Geteuid() != 0 {
		t.Skip("conformance: ownership is compared, which needs root")
	}
	bin := filepath.Join(t.TempDir(), "ignition")
	// The files stage ends by relabeling for SELinux (setfiles). The images have no SELinux:
	// a deliberate difference; a setfiles that does nothing stands in.
	fake := filepath.Join(filepath.Dir(bin), "setfiles")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\ncat >/dev/null\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-C", "testdata/ignition-ref", "-o", bin, "github.com/coreos/ignition/v2/internal")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the reference Ignition: %v\n%s", err, out)
	}
	return bin
}

type conformanceCase struct {
	name    string
	version string
	storage string // the JSON of the storage section
	passwd  string // the JSON of the passwd section; the roots then get account databases
	defs    string // with passwd: the root's login.defs; "" for the image's (profiles/base)
	why     string // not "": the agent differs on purpose (said here), compared anyway up to it
}

func gz(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return "data:;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

func sha(kind, s string) string {
	if kind == "sha256" {
		sum := sha256.Sum256([]byte(s))
		return "sha256-" + hex.EncodeToString(sum[:])
	}
	sum := sha512.Sum512([]byte(s))
	return "sha512-" + hex.EncodeToString(sum[:])
}

const specialBits = "Ignition's own translation of spec 3.0-3.5 configs up to 3.6 (config/v3_6/translate) " +
	"clears the setuid, setgid and sticky bits, which those specs call not functional; the agent parses " +
	"with it, while the reference binary keeps the bits: compared without them"

var conformanceCases = []conformanceCase{
	{name: "plain file", version: "3.0.0", storage: `{"files":[{"path":"/etc/motd","contents":{"source":"data:,hello%20world"}}]}`},
	{name: "base64 file", version: "3.0.0", storage: `{"files":[{"path":"/etc/b64","mode":384,"contents":{"source":"data:;base64,AAECA/8="}}]}`},
	{name: "directory", version: "3.0.0", storage: `{"directories":[{"path":"/var/lib/app","mode":448}]}`},
	{name: "symlink", version: "3.0.0", storage: `{"links":[{"path":"/etc/localtime","target":"/usr/share/zoneinfo/UTC"}]}`},
	{name: "deep parents", version: "3.0.0", storage: `{"files":[{"path":"/a/b/c/d/e","contents":{"source":"data:,deep"}}]}`},
	{name: "percent-encoded", version: "3.0.0", storage: `{"files":[{"path":"/etc/pct","contents":{"source":"data:,a%0Ab%3D%25c"}}]}`},
	{name: "gzip", version: "3.1.0", storage: `{"files":[{"path":"/etc/gz","contents":{"compression":"gzip","source":"` + gz("unzipped\n") + `"}}]}`},
	{name: "sha512", version: "3.1.0", storage: `{"files":[{"path":"/etc/h","contents":{"source":"data:,pinned","verification":{"hash":"` + sha("sha512", "pinned") + `"}}}]}`},
	{name: "binary 0600", version: "3.1.0", storage: `{"files":[{"path":"/root/.key","mode":384,"contents":{"source":"data:;base64,` + base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 250, 251}) + `"}}]}`},
	{name: "contents and append", version: "3.2.0", storage: `{"files":[{"path":"/etc/app","contents":{"source":"data:,one%0A"},"append":[{"source":"data:,two%0A"},{"source":"data:,three%0A"}]}]}`},
	{name: "append only", version: "3.2.0", storage: `{"files":[{"path":"/etc/only","append":[{"source":"data:,added"}]}]}`},
	{name: "dangling link", version: "3.2.0", storage: `{"links":[{"path":"/etc/dangling","target":"/nowhere/at/all"}]}`},
	{name: "hard link", version: "3.3.0", storage: `{"files":[{"path":"/etc/orig","contents":{"source":"data:,same"}}],"links":[{"path":"/etc/hard","target":"/etc/orig","hard":true}]}`},
	{name: "link with parents", version: "3.3.0", storage: `{"links":[{"path":"/x/y/z","target":"../t"}]}`},
	{name: "executable", version: "3.3.0", storage: `{"files":[{"path":"/usr/local/bin/tool","mode":493,"contents":{"source":"data:,%23!/bin/sh%0Aexit%200%0A"}}]}`},
	{name: "nested explicit modes", version: "3.3.0", storage: `{"directories":[{"path":"/srv","mode":493},{"path":"/srv/data","mode":488},{"path":"/srv/data/inner","mode":448}]}`},
	{name: "setuid file", version: "3.4.0", storage: `{"files":[{"path":"/usr/local/bin/su2","mode":2541,"contents":{"source":"data:,x"}}]}`, why: specialBits},
	{name: "sticky directory", version: "3.4.0", storage: `{"directories":[{"path":"/shared","mode":1023}]}`, why: specialBits},
	{name: "setuid file", version: "3.6.0", storage: `{"files":[{"path":"/usr/local/bin/su2","mode":2541,"contents":{"source":"data:,x"}}]}`},
	{name: "sticky directory", version: "3.6.0", storage: `{"directories":[{"path":"/shared","mode":1023}]}`},
	{name: "empty file", version: "3.4.0", storage: `{"files":[{"path":"/etc/empty"}]}`},
	{name: "file in explicit directory", version: "3.4.0", storage: `{"directories":[{"path":"/etc/app.d","mode":488}],"files":[{"path":"/etc/app.d/conf","mode":416,"contents":{"source":"data:,k=v"}}]}`},
	{name: "sha256", version: "3.5.0", storage: `{"files":[{"path":"/etc/h256","contents":{"source":"data:,pinned256","verification":{"hash":"` + sha("sha256", "pinned256") + `"}}}]}`},
	{name: "owner by id", version: "3.5.0", storage: `{"files":[{"path":"/home/u/f","user":{"id":1000},"group":{"id":1000},"contents":{"source":"data:,mine"}}]}`},
	{name: "directory owner", version: "3.5.0", storage: `{"directories":[{"path":"/data","mode":448,"user":{"id":1234},"group":{"id":4321}}]}`},
	{name: "relative link", version: "3.6.0", storage: `{"files":[{"path":"/opt/v1/bin","contents":{"source":"data:,v1"}}],"links":[{"path":"/opt/current","target":"v1"}]}`},
	{name: "space in path", version: "3.6.0", storage: `{"files":[{"path":"/etc/a b","contents":{"source":"data:,spaced"}}]}`},
	{name: "many", version: "3.6.0", storage: `{"directories":[{"path":"/m/d1"},{"path":"/m/d2","mode":448}],"files":[{"path":"/m/d1/f","contents":{"source":"data:,1"}},{"path":"/m/d2/g","mode":256,"contents":{"source":"data:,2"}}],"links":[{"path":"/m/l","target":"/m/d1/f"}]}`},
	{name: "gzip and append", version: "3.6.0", storage: `{"files":[{"path":"/etc/ga","contents":{"compression":"gzip","source":"` + gz("base\n") + `"},"append":[{"compression":"gzip","source":"` + gz("more\n") + `"}]}]}`},
	{name: "overwrite file", version: "3.6.0", storage: `{"files":[{"path":"/etc/ow","overwrite":true,"contents":{"source":"data:,new"}}]}`},
	// passwd: Ignition runs useradd --root on the root itself, the agent runs it --prefix on
	// a copy and writes the databases back; the results must be the same (uids, user
	// groups as login.defs says, homes from /etc/skel with HOME_MODE or UMASK, backups)
	{name: "users and groups", version: "3.6.0", storage: `{}`,
		passwd: `{"groups":[{"name":"ops","gid":1500},{"name":"daemons","system":true}],"users":[{"name":"core","groups":["ops"]},{"name":"svc","uid":1234,"gecos":"Service","shell":"/bin/sh","primaryGroup":"ops"},{"name":"solo","noUserGroup":true,"noCreateHome":true},{"name":"sys1","system":true,"noCreateHome":true}]}`},
	{name: "no user groups", version: "3.6.0", storage: `{}`, defs: "USERGROUPS_ENAB no\nUMASK 077\n",
		passwd: `{"users":[{"name":"core"},{"name":"other","primaryGroup":"users"}]}`},
	{name: "home mode", version: "3.3.0", storage: `{"files":[{"path":"/home/core/.config/app.toml","user":{"name":"core"},"group":{"name":"core"},"contents":{"source":"data:,x"}}]}`,
		defs: "USERGROUPS_ENAB yes\nHOME_MODE 0711\n", passwd: `{"users":[{"name":"core","homeDir":"/home/core"}]}`},
}

// accountFiles are the databases of the conformance roots with passwd cases.
var accountFiles = map[string]string{
	"etc/passwd":        "root:x:0:0:root:/root:/bin/bash\n",
	"etc/group":         "root:x:0:\nusers:x:100:\n",
	"etc/shadow":        "root:*:19000:0:99999:7:::\n",
	"etc/gshadow":       "root:*::\nusers:*::\n",
	"etc/skel/.bashrc":  "umask 027\n",
	"etc/skel/.profile": ". ~/.bashrc\n",
}

// TestConformance applies each config with the reference Ignition's files stage and with
// this agent's apply into two empty roots and compares the trees: paths, types, contents,
// modes (with the special bits), owners, link targets, link counts.
func TestConformance(t *testing.T) {
	ign := referenceIgnition(t)
	if len(conformanceCases) < 25 {
		t.Fatalf("%d conformance cases, want at least 25", len(conformanceCases))
	}
	for _, tc := range conformanceCases {
		t.Run(tc.version+"/"+tc.name, func(t *testing.T) {
			cfg := fmt.Sprintf(`{"ignition":{"version":%q},"storage":%s}`, tc.version, tc.storage)
			if tc.passwd != "" {
				cfg = fmt.Sprintf(`{"ignition":{"version":%q},"storage":%s,"passwd":%s}`, tc.version, tc.storage, tc.passwd)
			}
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "config.json")
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			ref, mine := filepath.Join(dir, "ref"), filepath.Join(dir, "mine")
			for _, root := range []string{ref, mine} {
				// Ignition relabels at the end of the files stage; without SELinux it still
				// reads this file
				os.MkdirAll(filepath.Join(root, "etc/selinux"), 0o755)
				os.WriteFile(filepath.Join(root, "etc/selinux/config"), []byte("SELINUX=disabled\nSELINUXTYPE=targeted\n"), 0o644)
				if tc.passwd != "" {
					writeAccounts(t, root, tc.defs)
				}
			}
			cmd := exec.Command(ign, "-platform", "file", "-stage", "files", "-root", ref, "-config-cache", cfgPath, "-log-to-stdout")
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(ign)+":"+os.Getenv("PATH"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("reference Ignition: %v\n%s", err, out)
			}
			var out bytes.Buffer
			if err := Apply(context.Background(), ApplyOptions{Root: mine, Runner: command.Exec{}, Stdout: &out}, []byte(cfg)); err != nil {
				t.Fatalf("apply: %v\n%s", err, out.String())
			}
			if tc.why != "" {
				t.Logf("differs on purpose: %s", tc.why)
			}
			want, got := snapshot(t, ref, tc.why != ""), snapshot(t, mine, tc.why != "")
			for p, w := range want {
				if g, ok := got[p]; !ok {
					t.Errorf("%s: made by Ignition only: %s", p, w)
				} else if g != w {
					t.Errorf("%s:\nignition: %s\nmantlet:  %s", p, w, g)
				}
			}
			for p, g := range got {
				if _, ok := want[p]; !ok {
					t.Errorf("%s: made by the agent only: %s", p, g)
				}
			}
		})
	}
}

func writeAccounts(t *testing.T, root, defs string) {
	t.Helper()
	if defs == "" {
		b, err := os.ReadFile("../profiles/base/login.defs")
		if err != nil {
			t.Fatal(err)
		}
		defs = string(b)
	}
	files := map[string]string{"etc/login.defs": defs}
	for k, v := range accountFiles {
		files[k] = v
	}
	for name, data := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot describes every node of a tree but Ignition's own records; noSpecial leaves
// the setuid, setgid and sticky bits out. /etc/.pwd.lock, the lock file shadow's tools
// leave in the root they edit, is left out: the agent's tools edit a copy.
func snapshot(t *testing.T, root string, noSpecial bool) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "etc/.ignition-result.json" || rel == "etc/.pwd.lock" {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode()
		if noSpecial {
			mode &^= fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
		}
		desc := fmt.Sprintf("%v uid=%d gid=%d", mode, st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			desc += fmt.Sprintf(" links=%d sha256=%x", st.Nlink, sum[:6])
		}
		m[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
