package qemu

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/nodeconfig"
	"github.com/mantlet/mantlet/internal/spec"
)

// clusterDir makes a directory with an image, an id key and Ignition configs giving the
// nodes ctl-1, wrk-1 and wrk-2 the addresses .11, .12 and .13 of 10.88.0.0/24, plus
// dhcp.ign without a network file.
func clusterDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("node.qcow2", "image")
	write("id", "key")
	for i, n := range []string{"ctl-1", "wrk-1", "wrk-2", "far"} {
		addr := fmt.Sprintf("10.88.0.%d/24", 11+i)
		if n == "far" {
			addr = "10.99.0.1/24"
		}
		write(n+".ign", staticIgnition(addr))
	}
	write("dhcp.ign", `{"ignition":{"version":"3.4.0"}}`)
	write("broken.ign", `{"ignition":`)
	return dir
}

func staticIgnition(addr string) string {
	file := "[Match]\nName=enp0s4\n\n[Network]\nAddress=" + addr + "\n"
	return fmt.Sprintf(`{"ignition":{"version":"3.5.0"},"storage":{"files":[{"path":%q,"contents":{"source":"data:,%s"}}]}}`,
		nodeconfig.NetworkPath, url.PathEscape(file))
}

const goodCluster = `name: demo
network:
  cidr: 10.88.0.0/24
ssh:
  identity_file: id
defaults:
  image: node.qcow2
nodes:
  - name: ctl-1
    ignition: ctl-1.ign
    memory_mib: 2048
    ports:
      - {name: consul, guest: 8501}
  - name: wrk-1
    ignition: wrk-1.ign
    cpus: 2
  - name: wrk-2
    ignition: dhcp.ign
    ports:
      - {name: web, guest: 443, host: 18443}
`

func TestParseClusterFile(t *testing.T) {
	dir := clusterDir(t)
	file := filepath.Join(dir, "cluster.yaml")
	cs, err := ParseClusterFile(file, []byte(goodCluster))
	if err != nil {
		t.Fatal(err)
	}
	if cs.Name != "demo" || cs.CIDR != netip.MustParsePrefix("10.88.0.0/24") || cs.Start != StartParallel ||
		cs.SSHUser != "admin" || cs.SSHIdentity != filepath.Join(dir, "id") || len(cs.Nodes) != 3 {
		t.Fatalf("cluster = %+v", cs)
	}
	want := []NodeSpec{
		{Name: "ctl-1", Image: filepath.Join(dir, "node.qcow2"), Ignition: filepath.Join(dir, "ctl-1.ign"), MemoryMiB: 2048, CPUs: 1,
			Ports: []NamedPort{{Name: "consul", Guest: 8501}}, Address: netip.MustParsePrefix("10.88.0.11/24")},
		{Name: "wrk-1", Image: filepath.Join(dir, "node.qcow2"), Ignition: filepath.Join(dir, "wrk-1.ign"), MemoryMiB: DefaultNodeMemoryMiB, CPUs: 2,
			Address: netip.MustParsePrefix("10.88.0.12/24")},
		{Name: "wrk-2", Image: filepath.Join(dir, "node.qcow2"), Ignition: filepath.Join(dir, "dhcp.ign"), MemoryMiB: DefaultNodeMemoryMiB, CPUs: 1,
			Ports: []NamedPort{{Name: "web", Guest: 443, Host: 18443}}},
	}
	for i, w := range want {
		if got := fmt.Sprintf("%+v", cs.Nodes[i]); got != fmt.Sprintf("%+v", w) {
			t.Errorf("node %d = %s\nwant %+v", i, got, w)
		}
	}
}

// The name defaults to the file's; four default nodes fit in 8 GiB with their overhead.
func TestClusterFileDefaults(t *testing.T) {
	dir := clusterDir(t)
	cs, err := ParseClusterFile(filepath.Join(dir, "lab.yaml"), []byte("network: {cidr: 10.88.0.0/24}\nnodes:\n  - {name: a, image: node.qcow2, ignition: ctl-1.ign}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cs.Name != "lab" || cs.Nodes[0].MemoryMiB != 1536 || cs.Nodes[0].CPUs != 1 {
		t.Errorf("defaults: %+v", cs)
	}
	if need := 4 * (DefaultNodeMemoryMiB + DefaultClusterTBSizeMiB + nodeOverheadMiB); need > 8<<10 {
		t.Errorf("four default nodes need %d MiB, more than 8 GiB", need)
	}
}

// Every problem of a file is reported at once, each with its line and field.
func TestClusterFileErrors(t *testing.T) {
	dir := clusterDir(t)
	for _, tc := range []struct {
		name string
		yaml string
		want []string // "line: path: message part"
	}{
		{"empty", "", []string{"1: empty document"}},
		{"unknown field", "network: {cidr: 10.88.0.0/24}\nnodez: []\n", []string{`2: nodez: unknown field "nodez" (did you mean "nodes"?)`, "1: nodes: no nodes"}},
		{"wrong kind", "network: {cidr: 10.88.0.0/24}\nnodes: {name: a}\n", []string{"2: nodes: expected a list"}},
		{"no cidr", "nodes:\n  - {name: a, image: node.qcow2, ignition: dhcp.ign}\n", []string{"1: network.cidr: not set"}},
		{"bad cidr", "network: {cidr: 10.88.0/24}\nnodes:\n  - {name: a, image: node.qcow2, ignition: dhcp.ign}\n", []string{`1: network.cidr: "10.88.0/24"`}},
		{"host bits", "network: {cidr: 10.88.0.1/24}\nnodes:\n  - {name: a, image: node.qcow2, ignition: dhcp.ign}\n", []string{"1: network.cidr: 10.88.0.1/24: not a network address (did you mean 10.88.0.0/24?)"}},
		{"bad name", "name: Demo\nnetwork: {cidr: 10.88.0.0/24}\nnodes:\n  - {name: a, image: node.qcow2, ignition: dhcp.ign}\n", []string{`1: name: "Demo"`}},
		{"bad start", "start: random\nnetwork: {cidr: 10.88.0.0/24}\nnodes:\n  - {name: a, image: node.qcow2, ignition: dhcp.ign}\n", []string{`1: start: "random": want parallel or ordered`}},
		{"bad user", "ssh: {user: Root!}\nnetwork: {cidr: 10.88.0.0/24}\nnodes:\n  - {name: a, image: node.qcow2, ignition: dhcp.ign}\n", []string{`1: ssh.user: "Root!"`}},
		{"missing identity", "ssh: {identity_file: nope}\nnetwork: {cidr: 10.88.0.0/24}\nnodes:\n  - {name: a, image: node.qcow2, ignition: dhcp.ign}\n", []string{"1: ssh.identity_file: " + filepath.Join(dir, "nope") + ": no such file or directory"}},
		{"node fields", `network: {cidr: 10.88.0.0/24}
nodes:
  - name: Ctl_1
    image: missing.qcow2
    memory_mib: 100
    cpus: -1
  - name: b
    image: node.qcow2
    ignition: .
`, []string{
			`3: nodes[0].name: "Ctl_1"`,
			"4: nodes[0].image: " + filepath.Join(dir, "missing.qcow2") + ": no such file or directory",
			"3: nodes[0].ignition: not set",
			"5: nodes[0].memory_mib: 100: want at least 512",
			"6: nodes[0].cpus: -1: want 1 to 64",
			"9: nodes[1].ignition: " + dir + ": not a regular file",
		}},
		{"no image anywhere", "network: {cidr: 10.88.0.0/24}\nnodes:\n  - {name: a, ignition: dhcp.ign}\n", []string{"3: nodes[0].image: not set, and no defaults.image"}},
		{"bad default image", "network: {cidr: 10.88.0.0/24}\ndefaults: {image: gone.qcow2}\nnodes:\n  - {name: a, ignition: dhcp.ign}\n", []string{"2: defaults.image: " + filepath.Join(dir, "gone.qcow2")}},
		{"duplicates", `network: {cidr: 10.88.0.0/24}
defaults: {image: node.qcow2}
nodes:
  - {name: a, ignition: ctl-1.ign, ports: [{name: x, guest: 80, host: 18080}]}
  - {name: a, ignition: ctl-1.ign, ports: [{name: y, guest: 80, host: 18080}]}
`, []string{
			`5: nodes[1].name: "a" is taken by nodes[0]`,
			"5: nodes[1].ports[0].host: 18080 is taken by nodes[0].ports[0]",
			"5: nodes[1].ignition: address 10.88.0.11 is taken by nodes[0]",
		}},
		{"ports", `network: {cidr: 10.88.0.0/24}
defaults: {image: node.qcow2}
nodes:
  - name: a
    ignition: dhcp.ign
    ports:
      - {name: ssh, guest: 2222}
      - {name: web, guest: 22}
      - {name: web, guest: 70000, host: 80}
      - {guest: 2222}
`, []string{
			`7: nodes[0].ports[0].name: "ssh" is taken`,
			"8: nodes[0].ports[1].guest: 22 is forwarded already",
			`9: nodes[0].ports[2].name: "web" is taken`,
			"9: nodes[0].ports[2].guest: 70000: want a TCP port",
			"9: nodes[0].ports[2].host: 80: want 0 (a free port) or 1024 to 65535",
			"10: nodes[0].ports[3].name: not set",
			"10: nodes[0].ports[3].guest: 2222 is forwarded twice",
		}},
		{"address outside the segment", "network: {cidr: 10.88.0.0/24}\nnodes:\n  - {name: a, image: node.qcow2, ignition: far.ign}\n", []string{"3: nodes[0].ignition: " + filepath.Join(dir, "far.ign") + " gives the node 10.99.0.1/24, outside network.cidr 10.88.0.0/24"}},
		{"not an ignition config", "network: {cidr: 10.88.0.0/24}\nnodes:\n  - {name: a, image: node.qcow2, ignition: broken.ign}\n", []string{"3: nodes[0].ignition: " + filepath.Join(dir, "broken.ign") + ": not an Ignition config"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, "c.yaml")
			_, err := ParseClusterFile(file, []byte(tc.yaml))
			var es spec.Errors
			if !errors.As(err, &es) {
				t.Fatalf("err = %v, want spec.Errors", err)
			}
			for _, w := range tc.want {
				line, rest, _ := strings.Cut(w, ": ")
				if !strings.Contains(err.Error(), file+":"+line+": "+rest) {
					t.Errorf("errors do not say %q:\n%v", w, err)
				}
			}
			if len(es) != len(tc.want) {
				t.Errorf("%d errors, want %d:\n%v", len(es), len(tc.want), err)
			}
		})
	}
}
