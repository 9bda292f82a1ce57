package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/mantlet/mantlet/internal/qemu"
)

type qemuRunOptions struct {
	ignition   string
	memory     int
	cpus       int
	accel      string
	sshPort    int
	sshUser    string
	diskSize   string
	persist    bool
	consoleLog string
	keepTemp   bool
	waitFor    string
	timeout    time.Duration
}

func newQemuCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:          "qemu",
		Short:        "Boot images in QEMU, for tests and CI",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
	}
	cmd.AddCommand(newQemuRunCmd(), newQemuClusterCmd())
	return cmd
}

func newQemuRunCmd() *cobra.Command {
	o := &qemuRunOptions{}
	cmd := &cobra.Command{
		Use:   "run IMAGE",
		Short: "Boot an image with its serial console on the terminal",
		Long: `Boot an image (qcow2 or raw) in QEMU with OVMF, its serial console on the terminal.

The VM boots a throwaway overlay, so the image is never modified (--persist boots the image
itself). Its network reaches nothing; only the SSH port is forwarded to 127.0.0.1. Ctrl-C
stops the VM, and the command exits with QEMU's status.

With --wait-for, the command exits 0 as soon as the console shows PATTERN (a literal string),
stopping the VM, and fails on --timeout, when QEMU exits first, or when the console shows a
kernel panic, oops, segfault, Go panic, OOM kill or systemd ordering cycle.`,
		Example: `  mantlet qemu run out/node.qcow2 --ignition node-1.ign
  mantlet qemu run out/node.qcow2 --accel tcg --wait-for 'login: ' --timeout 10m --console-log boot.log`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := o.options(args[0], cmd.Flags().Changed("timeout"), cmd.OutOrStdout())
			if err != nil {
				return err
			}
			code, err := runQemu(cmd.Context(), opts, o.waitFor, o.timeout, o.sshUser, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if code != 0 {
				// The VM is stopped and cleaned up: pass QEMU's status on.
				os.Exit(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ignition, "ignition", "", "Ignition config for the first boot (QEMU fw_cfg opt/com.coreos/config)")
	f.IntVar(&o.memory, "memory", qemu.DefaultMemoryMiB, "memory in MiB")
	f.IntVar(&o.cpus, "cpus", qemu.DefaultCPUs, "virtual CPUs")
	f.StringVar(&o.accel, "accel", string(qemu.AccelAuto), "accelerator: auto (KVM when usable, else TCG), kvm or tcg; $"+qemu.AccelEnv+" overrides auto")
	f.IntVar(&o.sshPort, "ssh-port", 0, "port on 127.0.0.1 forwarded to the guest's SSH port (0: a free one)")
	f.StringVar(&o.sshUser, "ssh-user", "admin", "user named in the ssh hint")
	f.StringVar(&o.diskSize, "disk-size", "", "size of the throwaway overlay, e.g. 20G (default: the image's size + 4G)")
	f.BoolVar(&o.persist, "persist", false, "boot the image itself, read-write, instead of a throwaway overlay")
	f.StringVar(&o.consoleLog, "console-log", "", "also write the serial console to this file")
	f.BoolVar(&o.keepTemp, "keep-temp", false, "keep the temporary directory (overlay, firmware variables)")
	f.StringVar(&o.waitFor, "wait-for", "", "exit 0 once the console shows this string (for CI)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "with --wait-for: fail when the console has not shown it by then")
	return cmd
}

// options validates every flag before any work and names the flags that are wrong.
func (o *qemuRunOptions) options(image string, timeoutSet bool, console io.Writer) (qemu.Options, error) {
	var errs []error
	bad := func(flag string, err error) { errs = append(errs, fmt.Errorf("%s: %w", flag, err)) }
	if err := regularFile(image); err != nil {
		bad("IMAGE", err)
	}
	if o.ignition != "" {
		if err := regularFile(o.ignition); err != nil {
			bad("--ignition", err)
		}
	}
	accel, err := qemu.ParseAccel(o.accel)
	if err != nil {
		bad("--accel", err)
	}
	if o.memory <= 0 {
		bad("--memory", fmt.Errorf("%d MiB is not positive", o.memory))
	}
	if o.cpus <= 0 {
		bad("--cpus", fmt.Errorf("%d is not positive", o.cpus))
	}
	if o.sshPort < 0 || o.sshPort > 65535 {
		bad("--ssh-port", fmt.Errorf("%d out of range", o.sshPort))
	}
	var size int64
	if o.diskSize != "" {
		if o.persist {
			bad("--disk-size", errors.New("not with --persist (the image keeps its size)"))
		} else if size, err = qemu.ParseSize(o.diskSize); err != nil {
			bad("--disk-size", err)
		}
	}
	if o.consoleLog != "" {
		if fi, err := os.Stat(filepath.Dir(o.consoleLog)); err != nil {
			bad("--console-log", err)
		} else if !fi.IsDir() {
			bad("--console-log", fmt.Errorf("%s is not a directory", filepath.Dir(o.consoleLog)))
		}
	}
	if o.timeout <= 0 {
		bad("--timeout", fmt.Errorf("%s is not positive", o.timeout))
	} else if timeoutSet && o.waitFor == "" {
		bad("--timeout", errors.New("only with --wait-for"))
	}
	if err := errors.Join(errs...); err != nil {
		return qemu.Options{}, err
	}
	return qemu.Options{
		Image: image, Ignition: o.ignition, MemoryMiB: o.memory, CPUs: o.cpus, Accel: accel,
		SSHPort: o.sshPort, DiskSize: size, Persist: o.persist, ConsoleLog: o.consoleLog,
		Console: console, KeepTemp: o.keepTemp,
	}, nil
}

func regularFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}

// runQemu boots the VM and returns QEMU's exit status. With waitFor it returns 0 once the
// console shows it, and an error on timeout, on a problem or when QEMU exits first.
func runQemu(ctx context.Context, opts qemu.Options, waitFor string, timeout time.Duration, sshUser string, stderr io.Writer) (int, error) {
	m, err := qemu.Start(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer m.Stop()
	fmt.Fprintf(stderr, "mantlet: qemu running (pid %d, %s); log in with: ssh -p %d %s@127.0.0.1\n", m.Pid(), m.Accel(), m.SSHPort(), sshUser)
	if waitFor != "" {
		if err := m.WaitFor(ctx, waitFor, timeout); err != nil {
			return 0, err
		}
		fmt.Fprintf(stderr, "mantlet: console showed %q; stopping the VM\n", waitFor)
		return 0, m.Stop()
	}
	select {
	case <-m.Done():
	case <-ctx.Done():
		fmt.Fprintln(stderr, "mantlet: stopping the VM")
	}
	if err := m.Stop(); err != nil {
		return 0, err
	}
	for _, p := range m.Problems() {
		fmt.Fprintf(stderr, "mantlet: console shows a %s\n", p)
	}
	if code := m.ExitCode(); code >= 0 {
		return code, nil
	}
	return 0, m.Wait()
}
