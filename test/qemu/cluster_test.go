//go:build qemu

package qemu_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mantlet/mantlet/internal/qemu"
)

// clusterCase is a cluster a test boots: its segment and its nodes, each with its role and
// its address (the one its certificate carries and its Ignition config sets).
type clusterCase struct {
	name  string
	cidr  string
	nodes []clusterNodeCase
}

type clusterNodeCase struct {
	name, role, ip string
}

var threeNodes = clusterCase{
	name: "three",
	cidr: "10.88.0.0/24",
	nodes: []clusterNodeCase{
		{"ctl-1", "control", "10.88.0.11"},
		{"wrk-1", "worker", "10.88.0.12"},
		{"wrk-2", "worker", "10.88.0.13"},
	},
}

// bootedCluster is a running cluster of a test, with what it takes to log in.
type bootedCluster struct {
	*qemu.Cluster
	dir    string     // the cluster file, configs and key
	key    string     // the admin's private key file, for ssh -F
	signer ssh.Signer // the same key, for the harness's own SSH client
}

var (
	mantletOnce sync.Once
	mantletBin  string
	mantletErr  error
)

// mantletBinary builds the mantlet command once for the tests that run it.
func mantletBinary(t *testing.T) string {
	t.Helper()
	mantletOnce.Do(func() {
		mantletBin = filepath.Join(workDir, "mantlet")
		if out, err := exec.Command("go", "build", "-trimpath", "-o", mantletBin, "../../cmd/mantlet").CombinedOutput(); err != nil {
			mantletErr = fmt.Errorf("build mantlet: %v\n%s", err, out)
		}
	})
	if mantletErr != nil {
		t.Fatal(mantletErr)
	}
	return mantletBin
}

// startCluster makes the credentials of cc with `mantlet creds`, each node's Ignition config
// with `mantlet ignition --network static` (and an admin with a fresh key), writes the
// cluster file and boots it. The cluster stops when the test ends.
func startCluster(t *testing.T, ctx context.Context, image string, cc clusterCase) *bootedCluster {
	t.Helper()
	bin := mantletBinary(t)
	dir := t.TempDir()
	mantlet := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "MANTLET_PASSPHRASE=cluster test passphrase")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mantlet %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "mantlet cluster test")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	admin := writeIgnition(t, map[string]any{
		"ignition": map[string]any{"version": "3.4.0"},
		"passwd": map[string]any{"users": []any{map[string]any{
			"name": "admin", "groups": []string{"sudo"}, "sshAuthorizedKeys": []string{authorized},
		}}},
	})
	store := filepath.Join(dir, "store")
	mantlet("creds", "init", "--dir", store, "--name", cc.name, "--datacenter", "dc1")
	var file strings.Builder
	fmt.Fprintf(&file, "name: %s\nnetwork:\n  cidr: %s\nssh:\n  user: admin\n  identity_file: id_ed25519\ndefaults:\n  image: %s\nnodes:\n", cc.name, cc.cidr, image)
	for _, n := range cc.nodes {
		mantlet("creds", "issue", "--dir", store, "--node", n.name, "--role", n.role, "--ip", n.ip)
	}
	for _, n := range cc.nodes {
		mantlet("ignition", "--dir", store, "--node", n.name, "-o", filepath.Join(dir, n.name+".ign"), "--merge", admin,
			"--network", "static", "--cidr", cc.cidr, "--interface", qemu.ClusterInterface)
		fmt.Fprintf(&file, "  - name: %s\n    ignition: %s.ign\n", n.name, n.name)
	}
	clusterFile := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(clusterFile, []byte(file.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cs, err := qemu.LoadClusterFile(clusterFile)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range cs.Nodes {
		if want := cc.nodes[i].ip + "/" + strings.Split(cc.cidr, "/")[1]; n.Address.String() != want {
			t.Fatalf("node %s: the harness reads address %s from its config, want %s", n.Name, n.Address, want)
		}
	}
	c, err := qemu.StartCluster(ctx, cs, qemu.ClusterOptions{LogDir: filepath.Join(dir, "logs")})
	if err != nil {
		t.Fatalf("start the cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes() {
				t.Logf("last console lines of %s:\n%s", n.Name(), tail(n.Console(), 40))
			}
		}
		c.Stop()
	})
	t.Logf("cluster %s started: %d nodes, consoles in %s", cc.name, len(cc.nodes), filepath.Join(dir, "logs"))
	return &bootedCluster{Cluster: c, dir: dir, key: key, signer: signer}
}

// TestClusterThreeNodes boots three nodes of the default image on one segment with static
// addresses from their Ignition configs; checks strict SSH with the generated ssh config, that
// every node reaches the others on the segment and nothing outside it; stops a node, checks
// the others still answer, starts it again and checks it rejoins; and that no process of the
// cluster is left at the end.
func TestClusterThreeNodes(t *testing.T) {
	b := defaultBuild(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	// A listener on the host that no node may reach: the restricted user-mode NIC's host
	// address (10.0.2.2) is this machine's loopback.
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	var reachedHost sync.WaitGroup
	var hostHits int
	var hostMu sync.Mutex
	reachedHost.Add(1)
	go func() {
		defer reachedHost.Done()
		for {
			conn, err := host.Accept()
			if err != nil {
				return
			}
			hostMu.Lock()
			hostHits++
			hostMu.Unlock()
			conn.Close()
		}
	}()
	hostPort := host.Addr().(*net.TCPAddr).Port

	start := time.Now()
	c := startCluster(t, ctx, b.output(t, "qcow2"), threeNodes)
	took, err := c.WaitAll(ctx, booted, bootTimeout+5*time.Minute)
	if err != nil {
		t.Fatalf("the cluster did not boot: %v", err)
	}
	t.Logf("every node booted %.0f s after the cluster started (per node: %v)", time.Since(start).Seconds(), took)
	for _, n := range c.Nodes() {
		if line := booted.FindString(n.Console()); !strings.Contains(line, "failed units: none") {
			t.Errorf("node %s: %s", n.Name(), strings.TrimSpace(line))
		}
	}

	// No interface of this machine is on the segment.
	cidr := netip.MustParsePrefix(threeNodes.cidr)
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && cidr.Overlaps(p) {
			t.Errorf("a host interface has %s, on the cluster's segment %s", p, cidr)
		}
	}

	// Strict host keys: the config and known_hosts the harness writes, used by OpenSSH.
	if err := c.HostKeys(ctx, 6*time.Minute); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(c.dir, "ssh_config")
	known, err := c.WriteSSHConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range threeNodes.nodes {
		out, err := exec.CommandContext(ctx, "ssh", "-F", cfg, "-o", "BatchMode=yes", "-o", "ConnectTimeout=60", n.name, "ip -4 -o addr show dev "+qemu.ClusterInterface).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh -F %s %s: %v\n%s", cfg, n.name, err, out)
		}
		if !strings.Contains(string(out), " "+n.ip+"/24 ") {
			t.Errorf("node %s: %s has %q, want %s/24", n.name, qemu.ClusterInterface, out, n.ip)
		}
	}
	// A known_hosts that gives ctl-1 the keys of wrk-1 must make OpenSSH refuse ctl-1.
	kh, _ := os.ReadFile(known)
	var swapped []string
	for _, l := range strings.Split(strings.TrimSpace(string(kh)), "\n") {
		if name, rest, _ := strings.Cut(l, " "); name == "wrk-1" {
			swapped = append(swapped, "ctl-1 "+rest)
		}
	}
	bad := filepath.Join(c.dir, "swapped_known_hosts")
	os.WriteFile(bad, []byte(strings.Join(swapped, "\n")+"\n"), 0o644)
	out, err := exec.CommandContext(ctx, "ssh", "-F", cfg, "-o", "BatchMode=yes", "-o", "UserKnownHostsFile="+bad, "ctl-1", "true").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Host key verification failed") {
		t.Errorf("ssh to ctl-1 with wrk-1's host keys: %v\n%s", err, out)
	}

	// Every node reaches the others on the segment, and nothing outside it.
	clients := map[string]*qemu.SSHClient{}
	for _, n := range c.Nodes() {
		cl, err := n.SSH(ctx, "admin", c.signer, 6*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		clients[n.Name()] = cl
	}
	reach := func(from, addr string) error {
		t.Helper()
		return probe(clients[from], addr)
	}
	for _, from := range threeNodes.nodes {
		for _, to := range threeNodes.nodes {
			if from.name != to.name {
				if err := reach(from.name, to.ip); err != nil {
					t.Errorf("%s does not reach %s (%s): %v", from.name, to.name, to.ip, err)
				}
			}
		}
		for _, outside := range []string{fmt.Sprintf("10.0.2.2:%d", hostPort), "10.0.2.2:22", "10.88.1.1:22", "192.0.2.1:22"} {
			if r, _ := clients[from.name].Run(tcpConnect(outside)); r.Status == 0 {
				t.Errorf("%s reaches %s, outside its segment", from.name, outside)
			}
		}
	}

	// A node stops (a power cut): the others still answer each other, and not it.
	wrk2, _ := c.Node("wrk-2")
	clients["wrk-2"].Close()
	if err := wrk2.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := reach("ctl-1", "10.88.0.12"); err != nil {
		t.Errorf("with wrk-2 stopped, ctl-1 does not reach wrk-1: %v", err)
	}
	if err := reach("wrk-1", "10.88.0.11"); err != nil {
		t.Errorf("with wrk-2 stopped, wrk-1 does not reach ctl-1: %v", err)
	}
	if r, _ := clients["ctl-1"].Run(tcpConnect("10.88.0.13:22")); r.Status == 0 {
		t.Error("ctl-1 still reaches the stopped wrk-2")
	}
	// It starts again from its own disk: no first boot, the same host keys, back on the
	// segment with its address.
	if err := wrk2.Start(); err != nil {
		t.Fatal(err)
	}
	if err := wrk2.WaitFor(ctx, booted, bootTimeout); err != nil {
		t.Fatalf("wrk-2 did not boot again: %v", err)
	}
	if strings.Contains(wrk2.Console(), "mantlet-firstboot: starting") {
		t.Error("wrk-2 ran its first boot again")
	}
	cl, err := wrk2.SSH(ctx, "admin", c.signer, 6*time.Minute)
	if err != nil {
		t.Fatalf("ssh to the restarted wrk-2 with its first host keys: %v", err)
	}
	defer cl.Close()
	clients["wrk-2"] = cl
	for _, tc := range [][2]string{{"ctl-1", "10.88.0.13"}, {"wrk-2", "10.88.0.11"}, {"wrk-2", "10.88.0.12"}} {
		if err := reach(tc[0], tc[1]); err != nil {
			t.Errorf("after its restart: %s does not reach %s: %v", tc[0], tc[1], err)
		}
	}
	for name, ps := range c.Problems() {
		t.Errorf("node %s: console problems: %v", name, ps)
	}

	// Nothing of the cluster is left once it stops.
	var pids []int
	for _, n := range c.Nodes() {
		pids = append(pids, n.Pids()...)
	}
	if len(pids) != 4 {
		t.Errorf("QEMU pids %v, want 4 (three nodes, one restart)", pids)
	}
	pids = append(pids, c.SwitchPid())
	dir := c.Dir()
	for _, cl := range clients {
		cl.Close()
	}
	if err := c.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	checkNothingLeft(t, pids, dir)
	host.Close()
	reachedHost.Wait()
	if hostHits > 0 {
		t.Errorf("nodes reached a listener on this machine's loopback %d times", hostHits)
	}
}

// tcpConnect is a shell command that connects to addr (host:port) within 10 s.
func tcpConnect(addr string) string {
	h, p, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("timeout 10 bash -c '</dev/tcp/%s/%s'", h, p)
}

// probe checks that the node of c reaches addr on the segment: ICMP echo and its SSH port.
func probe(c *qemu.SSHClient, addr string) error {
	for _, cmd := range []string{"sudo -n busybox ping -c 1 -W 10 " + addr, tcpConnect(net.JoinHostPort(addr, "22"))} {
		r, err := c.Run(cmd)
		if err != nil {
			return err
		}
		if r.Status != 0 {
			return fmt.Errorf("%s: exit %d: %s", cmd, r.Status, strings.TrimSpace(string(r.Stderr)))
		}
	}
	return nil
}
