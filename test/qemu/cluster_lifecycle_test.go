//go:build qemu

package qemu_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/qemu"
)

// nobody is the unprivileged user the harness runs as when the tests run as root: it needs
// no root, no /dev/net/tun and no KVM.
const nobody = 65534

// TestClusterLifecycle runs `mantlet qemu cluster` (as an unprivileged user when the tests
// run as root) on two nodes of blank disks, whose firmware finds nothing to boot, and ends it
// every way it can end: SIGTERM, SIGINT, a --wait-for that succeeds, and one that times out.
// Each time, no QEMU or vde_switch process of the run is left, and neither is its directory.
func TestClusterLifecycle(t *testing.T) {
	if err := command.Require("qemu-system-x86_64", "qemu-img", "vde_switch"); err != nil {
		t.Skipf("cluster harness tools missing: %v", err)
	}
	// Not t.TempDir(): its parent is 0700, and the unprivileged user must reach the files.
	dir, err := os.MkdirTemp("", "mantlet-lifecycle-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "mantlet")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/mantlet").CombinedOutput(); err != nil {
		t.Fatalf("build mantlet: %v\n%s", err, out)
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("qemu-img", "create", "-f", "qcow2", filepath.Join(dir, "blank.qcow2"), "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	write("node.ign", `{"ignition":{"version":"3.4.0"}}`)
	write("blank.yaml", "network: {cidr: 10.88.0.0/24}\ndefaults: {image: blank.qcow2, memory_mib: 512}\nnodes:\n  - {name: a, ignition: node.ign}\n  - {name: b, ignition: node.ign}\n")
	unprivileged := os.Geteuid() == 0
	if unprivileged {
		for _, p := range []string{dir, filepath.Join(dir, "blank.qcow2")} {
			if err := os.Chown(p, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name   string
		args   []string
		signal syscall.Signal // sent once the cluster runs; 0: none
		ok     bool           // exit status 0
		say    string         // on stderr
	}{
		{name: "sigterm", signal: syscall.SIGTERM, ok: true, say: "stopping the cluster"},
		{name: "sigint", signal: syscall.SIGINT, ok: true, say: "stopping the cluster"},
		{name: "wait-for", args: []string{"--wait-for", "BdsDxe", "--timeout", "10m"}, ok: true, say: `every node shows "BdsDxe"`},
		{name: "timeout", args: []string{"--wait-for", "never shown", "--timeout", "20s"}, say: "timed out after 20s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := filepath.Join(dir, tc.name)
			cmd := exec.Command(bin, append([]string{"qemu", "cluster", "blank.yaml", "--log-dir", logs, "--accel", "tcg"}, tc.args...)...)
			cmd.Dir = dir
			if unprivileged {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			run := watchRun(stderr)
			select {
			case <-run.started:
			case <-time.After(2 * time.Minute):
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the cluster did not start:\n%s", run.text())
			}
			if tc.signal != 0 {
				cmd.Process.Signal(tc.signal)
			}
			errc := make(chan error, 1)
			go func() { <-run.closed; errc <- cmd.Wait() }()
			select {
			case err = <-errc:
			case <-time.After(12 * time.Minute):
				cmd.Process.Kill()
				t.Fatalf("mantlet did not end:\n%s", run.text())
			}
			out := run.text()
			if (err == nil) != tc.ok {
				t.Errorf("exit: %v, want success %v\n%s", err, tc.ok, out)
			}
			if !strings.Contains(out, tc.say) {
				t.Errorf("stderr does not say %q:\n%s", tc.say, out)
			}
			pids, workDir := run.pids(), run.workDir()
			if len(pids) != 3 || workDir == "" {
				t.Fatalf("want 2 QEMU pids, a switch pid and the work directory on stderr, got %v %q:\n%s", pids, workDir, out)
			}
			checkNothingLeft(t, pids, workDir)
			for _, n := range []string{"a", "b"} {
				log, err := os.ReadFile(filepath.Join(logs, n+".console.log"))
				if err != nil || !bytes.Contains(log, []byte("boot 1 of node "+n)) {
					t.Errorf("console log of %s: %v %q", n, err, truncate(log, 200))
				}
			}
			if unprivileged && !strings.Contains(out, "KVM is not usable") && !strings.Contains(out, "accel=tcg") {
				t.Logf("note: stderr does not name the accelerator:\n%s", out)
			}
		})
	}
}

// run follows the stderr of one `mantlet qemu cluster`.
type run struct {
	mu      sync.Mutex
	buf     strings.Builder
	started chan struct{} // closed once the cluster line is printed
	closed  chan struct{} // closed at EOF
}

var (
	qemuPid   = regexp.MustCompile(`mantlet: node \S+ running \(pid (\d+),`)
	switchPid = regexp.MustCompile(`\(vde_switch pid (\d+)\)`)
	switchDir = regexp.MustCompile(`sock=(\S+)/switch`)
)

func watchRun(r io.Reader) *run {
	w := &run{started: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		once := sync.Once{}
		for sc.Scan() {
			w.mu.Lock()
			w.buf.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
			if switchPid.MatchString(sc.Text()) {
				once.Do(func() { close(w.started) })
			}
		}
		close(w.closed)
	}()
	return w
}

func (w *run) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *run) pids() []int {
	var pids []int
	for _, re := range []*regexp.Regexp{qemuPid, switchPid} {
		for _, m := range re.FindAllStringSubmatch(w.text(), -1) {
			p, _ := strconv.Atoi(m[1])
			pids = append(pids, p)
		}
	}
	return pids
}

func (w *run) workDir() string {
	if m := switchDir.FindStringSubmatch(w.text()); m != nil {
		return m[1]
	}
	return ""
}

// checkNothingLeft fails the test for every process of pids that still runs, every process
// whose command line names dir (a cluster's working directory), and dir itself.
func checkNothingLeft(t *testing.T, pids []int, dir string) {
	t.Helper()
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("process %d is left: %s", pid, procCmdline(pid))
		}
	}
	if left := processesMentioning(dir); len(left) > 0 {
		t.Errorf("processes of the cluster are left: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the cluster's directory %s is left (%v)", dir, err)
	}
}

// processesMentioning lists the processes whose command line contains s.
func processesMentioning(s string) []string {
	var found []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if cl := procCmdline(pid); strings.Contains(cl, s) {
			found = append(found, fmt.Sprintf("%d: %s", pid, cl))
		}
	}
	return found
}

func procCmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(bytes.TrimRight(b, "\x00")), "\x00", " ")
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// TestClusterOrderedStart starts two blank nodes in order: the second QEMU starts only once
// the first one's console shows the ready pattern (here the firmware's boot manager).
func TestClusterOrderedStart(t *testing.T) {
	if err := command.Require("qemu-system-x86_64", "qemu-img", "vde_switch"); err != nil {
		t.Skipf("cluster harness tools missing: %v", err)
	}
	dir := t.TempDir()
	blank := filepath.Join(dir, "blank.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-f", "qcow2", blank, "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	ign := filepath.Join(dir, "node.ign")
	os.WriteFile(ign, []byte(`{"ignition":{"version":"3.4.0"}}`), 0o644)
	cs := &qemu.ClusterSpec{
		Name: "ordered", CIDR: netip.MustParsePrefix("10.88.0.0/24"), Start: qemu.StartOrdered, SSHUser: "admin",
		Nodes: []qemu.NodeSpec{
			{Name: "a", Image: blank, Ignition: ign, MemoryMiB: 512, CPUs: 1},
			{Name: "b", Image: blank, Ignition: ign, MemoryMiB: 512, CPUs: 1},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := qemu.StartCluster(ctx, cs, qemu.ClusterOptions{Accel: qemu.AccelTCG, Ready: "BdsDxe", BootTimeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	took, err := c.WaitAll(ctx, "BdsDxe", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Nodes()[0].Machine(), c.Nodes()[1].Machine()
	if gap := b.Started().Sub(a.Started()); gap < took[0] {
		t.Errorf("b started %s after a, before a was ready (%s)", gap, took[0])
	}
}
