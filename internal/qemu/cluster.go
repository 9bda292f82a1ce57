package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mantlet/mantlet/internal/command"
)

// BootedLine matches the whole line every mantlet image prints once multi-user.target is
// reached, each boot ("mantlet: boot finished; failed units: ..."), up to its newline: the
// failed units follow the marker and may reach the console later.
var BootedLine = regexp.MustCompile(`mantlet: boot finished; failed units: [^\r\n]*\r?\n`)

// ClusterOptions say how to run a cluster. All are optional.
type ClusterOptions struct {
	// Dir holds the switch, the nodes' overlays and firmware variables; "" makes a
	// temporary directory that Stop removes.
	Dir string
	// LogDir receives each node's serial console as NODE.console.log (appended to across
	// restarts); "" is Dir.
	LogDir string
	// Console, when set, also receives every console line, prefixed with the node's name.
	Console io.Writer
	Accel   Accel
	// TBSizeMiB sizes each node's TCG translation cache; 0: DefaultClusterTBSizeMiB.
	TBSizeMiB int
	// Ready is what, in an ordered start, the next node waits for on the console of the
	// one before: a string or a *regexp.Regexp; nil: BootedLine.
	Ready any
	// BootTimeout bounds, in an ordered start, the wait for each node's Ready; 0: 15 min.
	BootTimeout time.Duration
	Firmware    *Firmware
	Binary      string // QEMU; "": DefaultBinary
	Switch      string // vde_switch; "": DefaultSwitchBinary
	Runner      command.Runner
	Log         *slog.Logger
}

// Cluster is a running cluster: one VDE switch and a QEMU per node.
type Cluster struct {
	spec    *ClusterSpec
	o       ClusterOptions
	ctx     context.Context // the nodes' lifetime, also for restarts
	dir     string
	tempDir bool
	sw      *Switch
	nodes   []*ClusterNode
	conMu   sync.Mutex // one console line at a time on o.Console

	stopOnce sync.Once
	stopErr  error
}

// ClusterNode is one node of a cluster, running or stopped.
type ClusterNode struct {
	c       *Cluster
	spec    NodeSpec
	mac     string
	dir     string
	overlay string
	sshPort int
	ports   []Forward // the node's named ports, host ports chosen, in spec order
	log     *os.File

	mu           sync.Mutex
	m            *Machine // nil while stopped
	boots        int
	fingerprints []string // host keys seen on the console, every boot so far
	hostKeys     []ssh.PublicKey
	pids         []int // every QEMU this node ran
}

// StartCluster starts the switch and every node of cs, all at once or in order (cs.Start).
// It returns once every QEMU runs (ordered: once each node but the last has booted). The
// nodes live until Stop or until ctx is done; on error, everything started is stopped.
func StartCluster(ctx context.Context, cs *ClusterSpec, o ClusterOptions) (c *Cluster, err error) {
	if len(cs.Nodes) == 0 {
		return nil, errors.New("cluster: no nodes")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Runner == nil {
		o.Runner = command.Exec{Log: o.Log}
	}
	if o.TBSizeMiB == 0 {
		o.TBSizeMiB = DefaultClusterTBSizeMiB
	}
	if o.Ready == nil {
		o.Ready = BootedLine
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = 15 * time.Minute
	}
	if err := checkMemory(cs, o.TBSizeMiB); err != nil {
		return nil, err
	}
	c = &Cluster{spec: cs, o: o, ctx: ctx, dir: o.Dir}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "mantlet-cluster-"+cs.Name+"-"); err != nil {
			return nil, fmt.Errorf("cluster directory: %w", err)
		}
		c.tempDir = true
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster directory: %w", err)
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	logDir := o.LogDir
	if logDir == "" {
		logDir = c.dir
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("console log directory: %w", err)
	}
	if c.sw, err = StartSwitch(ctx, SwitchOptions{Dir: c.dir, Ports: max(32, len(cs.Nodes)+8), Binary: o.Switch, Log: o.Log}); err != nil {
		return nil, err
	}
	for i, ns := range cs.Nodes {
		n, err := c.newNode(ctx, i, ns, logDir)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", ns.Name, err)
		}
		c.nodes = append(c.nodes, n)
	}
	for i, n := range c.nodes {
		if err := n.start(); err != nil {
			return nil, fmt.Errorf("node %s: %w", n.spec.Name, err)
		}
		if cs.Start == StartOrdered && i < len(c.nodes)-1 {
			if err := n.WaitFor(ctx, o.Ready, o.BootTimeout); err != nil {
				return nil, fmt.Errorf("node %s: %w", n.spec.Name, err)
			}
		}
	}
	return c, nil
}

// nodeOverheadMiB is what a QEMU takes beyond the guest's memory and its translation
// cache (devices, firmware, slirp), measured on this harness's nodes.
const nodeOverheadMiB = 96

// checkMemory refuses a cluster that would not fit in the memory this machine has free.
func checkMemory(cs *ClusterSpec, tbMiB int) error {
	need := 0
	for _, n := range cs.Nodes {
		need += n.MemoryMiB + tbMiB + nodeOverheadMiB
	}
	avail, err := memAvailableMiB()
	if err != nil {
		return nil // not Linux, or no /proc: QEMU will say so itself
	}
	if need > avail {
		return fmt.Errorf("cluster %s: its %d nodes need about %d MiB (memory_mib, the translation cache and QEMU's own), and this machine has %d MiB available: give the nodes less memory_mib or run fewer", cs.Name, len(cs.Nodes), need, avail)
	}
	return nil
}

func (c *Cluster) newNode(ctx context.Context, i int, ns NodeSpec, logDir string) (*ClusterNode, error) {
	n := &ClusterNode{c: c, spec: ns, mac: clusterMAC(i), dir: filepath.Join(c.dir, ns.Name)}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return nil, err
	}
	info, err := Inspect(ctx, c.o.Runner, ns.Image)
	if err != nil {
		return nil, err
	}
	if info.Format != "qcow2" && info.Format != "raw" {
		return nil, fmt.Errorf("image %s: format %s not supported (want qcow2 or raw)", ns.Image, info.Format)
	}
	// The node's own overlay on the image: it keeps the node's state across a restart.
	n.overlay = filepath.Join(n.dir, "disk.qcow2")
	if _, err := c.o.Runner.Run(ctx, command.Cmd{Name: "qemu-img", Args: OverlayArgs(ns.Image, info.Format, n.overlay, info.VirtualSize+DefaultExtraDisk)}); err != nil {
		return nil, fmt.Errorf("create overlay: %w", err)
	}
	if n.sshPort, err = FreePort(); err != nil {
		return nil, err
	}
	for _, p := range ns.Ports {
		host := p.Host
		if host == 0 {
			if host, err = FreePort(); err != nil {
				return nil, err
			}
		}
		n.ports = append(n.ports, Forward{Host: host, Guest: p.Guest})
	}
	if n.log, err = os.OpenFile(filepath.Join(logDir, ns.Name+".console.log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
		return nil, fmt.Errorf("console log: %w", err)
	}
	return n, nil
}

// clusterMAC is the cluster NIC's address of the i-th node: QEMU's prefix, then "m" and the
// index, the same in every run.
func clusterMAC(i int) string {
	return fmt.Sprintf("52:54:00:6d:%02x:%02x", (i+1)>>8&0xff, (i+1)&0xff)
}

// start boots the node's QEMU on its overlay.
func (n *ClusterNode) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m != nil {
		select {
		case <-n.m.Done():
		default:
			return fmt.Errorf("%w: already running", ErrNodeRunning)
		}
		n.learn()
	}
	n.boots++
	fmt.Fprintf(n.log, "\n===== mantlet: boot %d of node %s, %s =====\n", n.boots, n.spec.Name, time.Now().UTC().Format(time.RFC3339))
	sinks := io.Writer(n.log)
	if n.c.o.Console != nil {
		sinks = io.MultiWriter(n.log, &prefixWriter{mu: &n.c.conMu, w: n.c.o.Console, prefix: n.spec.Name + " | "})
	}
	m, err := Start(n.c.ctx, Options{
		Image: n.overlay, Persist: true, Scratch: true, Ignition: n.spec.Ignition,
		MemoryMiB: n.spec.MemoryMiB, CPUs: n.spec.CPUs, Accel: n.c.o.Accel, TBSizeMiB: n.c.o.TBSizeMiB,
		SSHPort: n.sshPort, Forwards: n.ports, Cluster: &ClusterNIC{Sock: n.c.sw.Sock(), MAC: n.mac},
		Console: sinks, TempDir: n.dir, Firmware: n.c.o.Firmware, Binary: n.c.o.Binary,
		Runner: n.c.o.Runner, Log: n.c.o.Log.With("node", n.spec.Name),
	})
	if err != nil {
		return err
	}
	n.m = m
	n.pids = append(n.pids, m.Pid())
	return nil
}

// ErrNodeRunning and ErrNodeStopped report a node in the wrong state for the call.
var (
	ErrNodeRunning = errors.New("node is running")
	ErrNodeStopped = errors.New("node is stopped")
	ErrNoNode      = errors.New("no such node")
)

// learn keeps the host key fingerprints the current console shows. n.mu is held.
func (n *ClusterNode) learn() {
	if n.m == nil {
		return
	}
	for _, fp := range HostKeyFingerprints(n.m.Console()) {
		if !slices.Contains(n.fingerprints, fp) {
			n.fingerprints = append(n.fingerprints, fp)
		}
	}
}

// machine is the node's running QEMU.
func (n *ClusterNode) machine() (*Machine, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		return nil, fmt.Errorf("node %s: %w", n.spec.Name, ErrNodeStopped)
	}
	return n.m, nil
}

// Name is the node's name.
func (n *ClusterNode) Name() string { return n.spec.Name }

// Spec is the node's validated description.
func (n *ClusterNode) Spec() NodeSpec { return n.spec }

// SSHPort is the port on 127.0.0.1 that reaches the node's SSH server, the same across
// restarts.
func (n *ClusterNode) SSHPort() int { return n.sshPort }

// Port is the host port on 127.0.0.1 of the node's named port, 0 when it has none.
func (n *ClusterNode) Port(name string) int {
	for i, p := range n.spec.Ports {
		if p.Name == name {
			return n.ports[i].Host
		}
	}
	return 0
}

// MAC is the address of the node's cluster NIC.
func (n *ClusterNode) MAC() string { return n.mac }

// Pids are the process ids of every QEMU the node ran, the current one last.
func (n *ClusterNode) Pids() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.pids)
}

// Machine is the node's running QEMU, nil while it is stopped.
func (n *ClusterNode) Machine() *Machine {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m
}

// Console is the node's console since its current (or last) boot began.
func (n *ClusterNode) Console() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		return ""
	}
	return n.m.Console()
}

// WaitFor waits for pattern on the console of the node's current boot (see Machine.WaitFor).
func (n *ClusterNode) WaitFor(ctx context.Context, pattern any, timeout time.Duration) error {
	m, err := n.machine()
	if err != nil {
		return err
	}
	if err := m.WaitFor(ctx, pattern, timeout); err != nil {
		return fmt.Errorf("node %s: %w", n.spec.Name, err)
	}
	return nil
}

// Fingerprints are the SHA256 fingerprints of the host keys the node printed on its
// console, on this boot or an earlier one.
func (n *ClusterNode) Fingerprints() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.learn()
	return slices.Clone(n.fingerprints)
}

// Stop powers the node off (SIGTERM to QEMU, which ends the guest at once: a power cut
// for the guest, with the overlay kept consistent) and returns once QEMU is gone.
func (n *ClusterNode) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		return nil
	}
	err := n.m.Stop()
	n.learn()
	n.m = nil
	return err
}

// Start boots a stopped node again from its own disk: its state, host keys and first-boot
// stamp are the ones it had.
func (n *ClusterNode) Start() error { return n.start() }

// Spec is the cluster's validated description.
func (c *Cluster) Spec() *ClusterSpec { return c.spec }

// Nodes are the cluster's nodes in the file's order.
func (c *Cluster) Nodes() []*ClusterNode { return slices.Clone(c.nodes) }

// Node finds a node by name.
func (c *Cluster) Node(name string) (*ClusterNode, error) {
	for _, n := range c.nodes {
		if n.spec.Name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("%w %q in cluster %s", ErrNoNode, name, c.spec.Name)
}

// Dir is the cluster's working directory.
func (c *Cluster) Dir() string { return c.dir }

// SwitchPid is the VDE switch's process id.
func (c *Cluster) SwitchPid() int { return c.sw.Pid() }

// WaitAll waits until every running node's console shows pattern and returns, per node in
// the file's order, how long after its boot began it did. The first node that fails (a
// problem on its console, QEMU exited, timeout) ends the wait for all; the error names it.
func (c *Cluster) WaitAll(ctx context.Context, pattern any, timeout time.Duration) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	took := make([]time.Duration, len(c.nodes))
	errs := make(chan error, len(c.nodes))
	for i, n := range c.nodes {
		go func() {
			m, err := n.machine()
			if err == nil {
				var at time.Time
				if at, err = m.WaitForTime(ctx, pattern, timeout); err == nil {
					took[i] = at.Sub(m.Started())
				} else {
					err = fmt.Errorf("node %s: %w", n.spec.Name, err)
				}
			}
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var first error
	for range c.nodes {
		err := <-errs
		// The nodes the first failure cancelled report only that.
		if err != nil && (first == nil || !errors.Is(err, context.Canceled)) {
			first = errors.Join(first, err)
		}
	}
	if first != nil {
		return nil, first
	}
	return took, nil
}

// PeakRSS is the most memory the node's current QEMU has held (VmHWM), in bytes.
func (n *ClusterNode) PeakRSS() (int64, error) {
	m, err := n.machine()
	if err != nil {
		return 0, err
	}
	return procPeakRSS(m.Pid())
}

// Problems lists, per node, what its consoles showed went wrong so far.
func (c *Cluster) Problems() map[string][]Problem {
	out := map[string][]Problem{}
	for _, n := range c.nodes {
		if m := n.Machine(); m != nil {
			if ps := m.Problems(); len(ps) > 0 {
				out[n.spec.Name] = ps
			}
		}
	}
	return out
}

// Stop stops every node and the switch and removes the working directory when the
// cluster made it. It returns once every process is gone; it is safe to call again.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var wg sync.WaitGroup
		errs := make([]error, len(c.nodes))
		for i, n := range c.nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = n.Stop()
				errs[i] = errors.Join(errs[i], n.log.Close())
			}()
		}
		wg.Wait()
		if c.sw != nil {
			errs = append(errs, c.sw.Stop())
		}
		if c.tempDir {
			errs = append(errs, os.RemoveAll(c.dir))
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// memAvailableMiB reads MemAvailable from /proc/meminfo.
func memAvailableMiB() (int, error) {
	kb, err := procKB("/proc/meminfo", "MemAvailable:")
	return int(kb / 1024), err
}

// procPeakRSS reads a process's VmHWM, in bytes.
func procPeakRSS(pid int) (int64, error) {
	kb, err := procKB(fmt.Sprintf("/proc/%d/status", pid), "VmHWM:")
	return kb << 10, err
}

// procKB reads the "Key:   123 kB" line of a /proc file.
func procKB(file, key string) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %q", file, sc.Text())
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("%s: no %s", file, key)
}
