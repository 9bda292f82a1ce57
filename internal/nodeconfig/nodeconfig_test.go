package nodeconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/mantlet/mantlet/firstboot"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/creds"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// fixed is a store's worth of input with readable fake values, so that golden files are
// stable and show where each secret goes.
func fixed(role string) Input {
	ctl := creds.Node{Name: "ctl-1", Role: creds.RoleControl, IPs: []string{"10.0.0.11"}, CertPEM: "CERT ctl-1\n"}
	ctl2 := creds.Node{Name: "ctl-2", Role: creds.RoleControl, IPs: []string{"fd00::12"}, CertPEM: "CERT ctl-2\n"}
	node := ctl
	if role == creds.RoleWorker {
		node = creds.Node{Name: "wrk-1", Role: creds.RoleWorker, IPs: []string{"10.0.0.21"}, CertPEM: "CERT wrk-1\n"}
	}
	tokens := map[string]string{}
	for _, n := range creds.TokenNames {
		tokens[n] = "TOKEN-" + n
	}
	return Input{
		Cluster: "prod", Datacenter: "dc1", Domain: "consul",
		Node: node, NodeKey: []byte("KEY " + node.Name + "\n"), CABundle: []byte("CA OLD\nCA NEW\n"),
		Controls: []creds.Node{ctl, ctl2},
		Secrets: &creds.Secrets{
			Gossip: "GOSSIP", ConsulTokens: tokens,
			ZooKeeper:        map[string]string{"super": "ZK-SUPER", "mesos": "ZK-MESOS", "marathon": "ZK-MARATHON"},
			Mesos:            map[string]string{"marathon": "MESOS-MARATHON", "agent": "MESOS-AGENT"},
			MarathonPassword: "MARATHON-HTTP", WebPassword: "WEB", WebHtpasswd: "admin:$2y$12$HASH",
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs (run go test -update if this is right):\n%s", file, got)
	}
}

// newRoot is an image-like root with the component users the config names.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n",
		"etc/group":  "root:x:0:\nwww-data:x:33:\nconsul:x:990:\nzookeeper:x:991:\nmarathon:x:992:\n",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// tree lists the files the config made: path, mode, owner, contents.
func tree(t *testing.T, root string) []byte {
	t.Helper()
	var lines []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." || rel == "etc" || rel == "etc/passwd" || rel == "etc/group" {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		line := rel + " " + fi.Mode().String() + " " + itoa(st.Uid) + ":" + itoa(st.Gid)
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + strings.ReplaceAll(string(b), "\n", `\n`)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return []byte(strings.Join(lines, "\n") + "\n")
}

func itoa(n uint32) string { b, _ := json.Marshal(n); return string(b) }

// Golden config per role, applied by the first-boot agent to a root: the files, their
// modes and owners are pinned down.
func TestGoldenPerRole(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("applying a config with owners needs root (chown)")
	}
	for _, role := range creds.Roles {
		t.Run(role, func(t *testing.T) {
			out, err := Generate(fixed(role), nil)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := Generate(fixed(role), nil)
			if !bytes.Equal(out, again) {
				t.Fatal("same input, different output")
			}
			golden(t, role+".ign", out)
			root := newRoot(t)
			var console bytes.Buffer
			if err := firstboot.Apply(context.Background(), firstboot.ApplyOptions{Root: root, Runner: &command.Recorder{}, Stdout: &console}, out); err != nil {
				t.Fatalf("agent: %v\n%s", err, console.String())
			}
			for _, secret := range []string{"GOSSIP", "TOKEN-", "ZK-", "MESOS-", "KEY "} {
				if strings.Contains(console.String(), secret) {
					t.Fatalf("agent printed a secret: %s", console.String())
				}
			}
			got := tree(t, root)
			golden(t, role+".tree", got)
			for _, line := range strings.Split(string(got), "\n") {
				if f := strings.Fields(line); len(f) > 1 && f[1][0] == '-' && f[1][7] != '-' && !strings.HasSuffix(f[0], ".pem") && !strings.HasSuffix(f[0], "node.json") && f[0] != "etc/hostname" {
					t.Errorf("world-readable secret: %s", f[0])
				} else if len(f) > 1 && strings.HasSuffix(f[0], "key.pem") && f[1] != "-rw-r-----" {
					t.Errorf("key mode %s", f[1])
				}
			}
		})
	}
}

// What a worker must not get.
func TestWorkerGetsNoControlSecrets(t *testing.T) {
	out, err := Generate(fixed(creds.RoleWorker), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Build(fixed(creds.RoleWorker))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cfg.Storage.Files {
		for _, p := range []string{ZooKeeperEnvPath, MasterCredsPath, MarathonEnvPath, MarathonMesosPath, MesosTokenPath} {
			if f.Path == p {
				t.Errorf("worker gets %s", p)
			}
		}
	}
	for _, s := range []string{"ZK-SUPER", "ZK-MARATHON", "MESOS-MARATHON", "MARATHON-HTTP", "TOKEN-initial-management", "TOKEN-marathon"} {
		if bytes.Contains(decoded(t, out), []byte(s)) {
			t.Errorf("worker config holds %s", s)
		}
	}
}

// decoded is the config with every data URL decoded, to look for values.
func decoded(t *testing.T, raw []byte) []byte {
	t.Helper()
	cfg, err := Build(fixed(creds.RoleWorker))
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for _, f := range cfg.Storage.Files {
		all.WriteString(decodeSource(t, *f.Contents.Source))
	}
	return all.Bytes()
}

func TestNoControlNode(t *testing.T) {
	in := fixed(creds.RoleWorker)
	in.Controls = nil
	if _, err := Generate(in, nil); !errors.Is(err, ErrNoControl) {
		t.Fatalf("got %v", err)
	}
}

func TestMerge(t *testing.T) {
	extra := []byte(`{"ignition":{"version":"3.2.0"},"storage":{"files":[{"path":"/etc/motd","mode":420,"contents":{"source":"data:,hello%0A"}}]},
	  "systemd":{"units":[{"name":"hello.service","contents":"[Service]\nExecStart=/bin/true\n"}]}}`)
	out, err := Generate(fixed(creds.RoleControl), extra)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"/etc/motd"`, `"hello.service"`, `"` + KeyPath + `"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("merged config lacks %s", want)
		}
	}
	for _, tc := range []struct{ name, cfg, msg string }{
		{"replaces a credential", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"` + KeyPath + `","contents":{"source":"data:,x"}}]}}`, "$.storage.files[0].path: " + KeyPath + " is written by mantlet"},
		{"not json", `{"ignition":`, "cannot merge"},
		{"unsupported by the agent", `{"ignition":{"version":"3.4.0"},"storage":{"disks":[{"device":"/dev/vdb","wipeTable":true}]}}`, "mantlet-firstboot"},
		{"too new", `{"ignition":{"version":"3.6.0"}}`, "cannot merge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(fixed(creds.RoleControl), []byte(tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %q", err, tc.msg)
			}
		})
	}
}

// The operator's config is outside input.
func FuzzMerge(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/merge/*.ign")
	for _, s := range seeds {
		b, _ := os.ReadFile(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := Generate(fixed(creds.RoleWorker), raw)
		if err != nil {
			if strings.Contains(err.Error(), "GOSSIP") || strings.Contains(err.Error(), "TOKEN-") {
				t.Fatal("secret in an error")
			}
			return
		}
		if err := validate(out); err != nil {
			t.Fatalf("accepted output does not validate: %v", err)
		}
	})
}
