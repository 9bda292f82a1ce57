package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mantlet/mantlet/internal/qemu"
)

type qemuClusterOptions struct {
	waitFor   string
	timeout   time.Duration
	sshConfig string
	keep      bool
	console   bool
	logDir    string
	dir       string
	accel     string
}

func newQemuClusterCmd() *cobra.Command {
	o := &qemuClusterOptions{}
	cmd := &cobra.Command{
		Use:   "cluster CLUSTER.yaml",
		Short: "Boot every node of a cluster on one private network, without root",
		Long: `Boot every node of a cluster file in QEMU: one VDE switch (vde_switch) is the cluster's
private layer-2 segment, which no host interface joins; each node also has a restricted
user-mode NIC that reaches nothing, with its SSH port (and its named ports) forwarded to
127.0.0.1. Each node boots its own overlay of its image with its Ignition config; its serial
console goes to LOG-DIR/NODE.console.log (and, with --console, to the terminal, each line
prefixed with the node's name). Nothing needs root, /dev/net/tun or KVM.

Every console is scanned for kernel panics, oopses, segfaults, Go panics, OOM kills and
systemd ordering cycles: one fails the run. Ctrl-C (or SIGTERM) stops every node and the
switch. With --wait-for, the command exits 0 once every node's console shows PATTERN (a
literal string), and fails on --timeout. --ssh-config writes an ssh config and a known_hosts
file with the host keys each node printed on its console, checked against the keys its SSH
server offers, so that 'ssh -F FILE NODE' works with strict host key checking.`,
		Example: `  mantlet qemu cluster cluster.yaml --console
  mantlet qemu cluster cluster.yaml --wait-for 'mantlet: boot finished' --timeout 20m
  mantlet qemu cluster cluster.yaml --ssh-config out/ssh_config --keep   # then: ssh -F out/ssh_config ctl-1`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQemuCluster(cmd.Context(), o, args[0], cmd.Flags().Changed("timeout"), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.waitFor, "wait-for", "", "exit 0 once every node's console shows this string (for CI)")
	f.DurationVar(&o.timeout, "timeout", 20*time.Minute, "with --wait-for: fail when a node has not shown it by then")
	f.StringVar(&o.sshConfig, "ssh-config", "", "once every node has booted, write an ssh config here (and FILE.known_hosts)")
	f.BoolVar(&o.keep, "keep", false, "leave the cluster up after --wait-for (succeeded or failed) until Ctrl-C")
	f.BoolVar(&o.console, "console", false, "also show every console on the terminal, each line prefixed with its node")
	f.StringVar(&o.logDir, "log-dir", "", "where the consoles go, NODE.console.log (default: out/CLUSTER-NAME)")
	f.StringVar(&o.dir, "work-dir", "", "where the switch and the nodes' overlays live (default: a temporary directory, removed at the end)")
	f.StringVar(&o.accel, "accel", string(qemu.AccelAuto), "accelerator: auto (KVM when usable, else TCG), kvm or tcg; $"+qemu.AccelEnv+" overrides auto")
	return cmd
}

// runQemuCluster boots the cluster of file and runs it as the flags say.
func runQemuCluster(ctx context.Context, o *qemuClusterOptions, file string, timeoutSet bool, stdout, stderr io.Writer) error {
	var errs []error
	accel, err := qemu.ParseAccel(o.accel)
	if err != nil {
		errs = append(errs, fmt.Errorf("--accel: %w", err))
	}
	if o.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout: %s is not positive", o.timeout))
	} else if timeoutSet && o.waitFor == "" {
		errs = append(errs, errors.New("--timeout: only with --wait-for"))
	}
	if o.sshConfig != "" {
		if err := dirExists(filepath.Dir(o.sshConfig)); err != nil {
			errs = append(errs, fmt.Errorf("--ssh-config: %w", err))
		}
	}
	cs, err := qemu.LoadClusterFile(file)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	logDir := o.logDir
	if logDir == "" {
		logDir = filepath.Join("out", cs.Name)
	}
	copts := qemu.ClusterOptions{Dir: o.dir, LogDir: logDir, Accel: accel}
	if o.console {
		copts.Console = stdout
	}
	c, err := qemu.StartCluster(ctx, cs, copts)
	if err != nil {
		return err
	}
	defer c.Stop()
	for _, n := range c.Nodes() {
		addr := "from its own config"
		if a := n.Spec().Address; a.IsValid() {
			addr = a.String()
		}
		ports := []string{fmt.Sprintf("ssh 127.0.0.1:%d", n.SSHPort())}
		for _, p := range n.Spec().Ports {
			ports = append(ports, fmt.Sprintf("%s 127.0.0.1:%d", p.Name, n.Port(p.Name)))
		}
		fmt.Fprintf(stderr, "mantlet: node %s running (pid %d, %s): %s on the segment; %s; console %s\n",
			n.Name(), n.Machine().Pid(), n.Machine().Accel(), addr, strings.Join(ports, ", "), filepath.Join(logDir, n.Name()+".console.log"))
	}
	fmt.Fprintf(stderr, "mantlet: cluster %s: %d nodes on %s (vde_switch pid %d)\n", cs.Name, len(cs.Nodes), cs.CIDR, c.SwitchPid())

	// Everything below ends when a console shows a problem: watch them all.
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go watchCluster(wctx, c, cancel, stderr)

	if o.sshConfig != "" {
		if err := writeClusterSSH(wctx, c, o.sshConfig, o.timeout); err != nil {
			return o.failed(ctx, c, cause(wctx, err), stderr)
		}
		fmt.Fprintf(stderr, "mantlet: wrote %s: ssh -F %s NODE (strict host key checking)\n", o.sshConfig, o.sshConfig)
	}
	if o.waitFor != "" {
		took, err := c.WaitAll(wctx, o.waitFor, o.timeout)
		if err != nil {
			return o.failed(ctx, c, cause(wctx, err), stderr)
		}
		printFigures(c, o.waitFor, took, stderr)
		fmt.Fprintf(stderr, "mantlet: every node shows %q\n", o.waitFor)
		if !o.keep {
			cancel(nil) // the nodes' exits from here on are ours
			return c.Stop()
		}
	}
	fmt.Fprintln(stderr, "mantlet: the cluster runs; Ctrl-C stops it")
	<-wctx.Done()
	if err := context.Cause(wctx); err != nil && ctx.Err() == nil {
		return o.failed(ctx, c, err, stderr)
	}
	fmt.Fprintln(stderr, "mantlet: stopping the cluster")
	cancel(nil)
	return c.Stop()
}

// failed ends a run that went wrong, first leaving the cluster up until Ctrl-C with --keep.
func (o *qemuClusterOptions) failed(ctx context.Context, c *qemu.Cluster, err error, stderr io.Writer) error {
	// The watch goes on with --keep: a node that powers off meanwhile is reported.
	if o.keep && ctx.Err() == nil {
		fmt.Fprintf(stderr, "mantlet: %v\nmantlet: --keep: the cluster stays up; Ctrl-C stops it\n", err)
		<-ctx.Done()
	}
	c.Stop()
	return err
}

// cause prefers the reason the watch cancelled the wait over the cancellation itself.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

// errAllExited ends a run whose nodes have all powered off.
var errAllExited = errors.New("every node has exited")

// watchCluster cancels ctx with the first problem a console shows, and once every node has
// exited. A node that powers off by itself is reported; the others go on.
func watchCluster(ctx context.Context, c *qemu.Cluster, cancel context.CancelCauseFunc, stderr io.Writer) {
	nodes := c.Nodes()
	exits := make(chan error, len(nodes))
	for _, n := range nodes {
		m := n.Machine()
		go func() {
			err := m.Watch(ctx)
			if err != nil {
				err = fmt.Errorf("node %s: %w", n.Name(), err)
			}
			exits <- err
		}()
	}
	for range nodes {
		err := <-exits
		switch {
		case err == nil || ctx.Err() != nil: // ctx done: the cluster is stopping
			return
		case errors.Is(err, qemu.ErrProblem):
			cancel(err)
			return
		default:
			fmt.Fprintf(stderr, "mantlet: %v\n", firstLine(err))
		}
	}
	cancel(errAllExited)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// writeClusterSSH waits until every node has booted, scans their host keys against their
// consoles and writes the ssh config.
func writeClusterSSH(ctx context.Context, c *qemu.Cluster, path string, timeout time.Duration) error {
	if _, err := c.WaitAll(ctx, qemu.BootedLine, timeout); err != nil {
		return err
	}
	if err := c.HostKeys(ctx, 5*time.Minute); err != nil {
		return err
	}
	_, err := c.WriteSSHConfig(path)
	return err
}

// printFigures says when each node showed the pattern and how much memory each QEMU and the
// harness took at most: the figures a CI log (and make bench) wants.
func printFigures(c *qemu.Cluster, pattern string, took []time.Duration, w io.Writer) {
	for i, n := range c.Nodes() {
		rss := "unknown"
		if b, err := n.PeakRSS(); err == nil {
			rss = fmt.Sprintf("%d MiB", b>>20)
		}
		fmt.Fprintf(w, "mantlet: node %s showed %q %.1f s after QEMU started; QEMU peak RSS %s\n", n.Name(), pattern, took[i].Seconds(), rss)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		fmt.Fprintf(w, "mantlet: harness peak RSS %d MiB\n", ru.Maxrss>>10)
	}
}

func dirExists(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}
