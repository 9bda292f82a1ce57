// Package firstboot is mantlet's first-boot agent: on a machine's first boot it fetches the
// Ignition config (providers), applies it to the root filesystem (stages), makes the SSH
// host keys and prints their fingerprints, and stamps the boot done. It also gives the
// image builder the agent's unit files (ImageFiles).
package firstboot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mantlet/mantlet/firstboot/hostkeys"
	"github.com/mantlet/mantlet/firstboot/providers"
	"github.com/mantlet/mantlet/firstboot/resource"
	"github.com/mantlet/mantlet/firstboot/rootfs"
	"github.com/mantlet/mantlet/internal/command"
)

// ErrFailed is returned by Run when first boot failed; the reason is already printed.
var ErrFailed = errors.New("first boot failed")

// Options of a first boot. Paths other than Root are on the running system.
type Options struct {
	Root       string // the machine's root, "/"; a directory in tests
	Cmdline    string // the kernel command line file, /proc/cmdline
	Sysfs      string // /sys
	Platform   string // overrides ignition.platform.id= when not ""
	ConfigFile string // for the file provider: overrides ignition.config.file=
	Hostname   string // for the host keys' comment; "" asks the system
	Runner     command.Runner
	// Live is set on a real boot (the agent's run command): after applying, systemd is
	// reloaded and the units the config enables are started.
	Live   bool
	Stdout io.Writer
	Now    func() time.Time // nil: time.Now
	// Fetcher is the base of every network fetch (providers, referenced configs, remote
	// contents); nil: a default one. Endpoints overrides the providers' metadata
	// endpoints. Seams for tests.
	Fetcher   *resource.Fetcher
	Endpoints providers.Endpoints
	DevDir    string // where config drives are found by label (DevDir/disk/by-label); "" for /dev
}

// Run is one first boot. It returns at once when first boot is stamped done. Otherwise it
// stamps in-progress, fetches, checks and applies the config, makes the SSH host keys
// (even when the config failed, so that sshd can start), prints their fingerprints, and
// stamps done. The last line it prints is "mantlet-firstboot: done" or
// "mantlet-firstboot: FAILED: <reason>".
func Run(ctx context.Context, o Options) error {
	con := console{o.Stdout}
	fsys, err := rootfs.Open(o.Root)
	if err != nil {
		return fail(con, err)
	}
	defer fsys.Close()
	now := o.Now
	if now == nil {
		now = time.Now
	}
	st := stamps{fs: fsys, now: now}
	done, err := st.exists(StampDone)
	if err != nil {
		return fail(con, err)
	}
	if done {
		con.printf("already done (%s exists)", StampDone)
		return nil
	}
	err = boot(ctx, o, fsys, st, con)
	if kerr := hostKeys(fsys, o.Hostname, con); err == nil {
		err = kerr
	}
	if err == nil {
		err = st.finish()
	}
	if err != nil {
		return fail(con, err)
	}
	con.printf("done")
	return nil
}

func fail(con console, err error) error {
	con.printf("FAILED: %v", err)
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

// boot is the part of Run that a failed config stops: fetch, check, apply.
func boot(ctx context.Context, o Options, fsys *rootfs.FS, st stamps, con console) error {
	retry, err := st.begin()
	if err != nil {
		return err
	}
	if retry {
		con.printf("starting again: the previous attempt did not finish")
	} else {
		con.printf("starting")
	}
	switch rec, err := fsys.Recover(UndoLog); {
	case err != nil:
		return fmt.Errorf("undo the interrupted attempt: %w", err)
	case rec == rootfs.RolledBack:
		con.printf("undid the changes of the interrupted attempt")
	case rec == rootfs.Committed:
		con.printf("the interrupted attempt had applied its config; cleaned up after it")
	}
	f := withLog(o.Fetcher, con)
	raw, err := fetch(ctx, o, f, con)
	if err != nil || raw == nil {
		return err
	}
	if err := st.cache(raw); err != nil {
		return err
	}
	j, err := openJournal(fsys)
	if err != nil {
		return err
	}
	a, err := apply(ctx, fsys, o.Runner, j, UndoLog, con, f, raw)
	if err != nil {
		return fmt.Errorf("apply config: %w", err)
	}
	if o.Live {
		return startUnits(ctx, o.Runner, a, con)
	}
	return nil
}

// startUnits makes systemd see what the config wrote (units, drop-ins, enablement links) and
// queues the start of the units it enables: the boot transaction was computed before they
// existed. Without blocking: units ordered after first boot wait for it to finish. When the
// config wrote network files, systemd-networkd reloads them: it may have configured the
// links before they existed (first boot is not ordered before the network, which the
// network providers need). A hostname it wrote becomes the running system's name.
func startUnits(ctx context.Context, r command.Runner, a applied, con console) error {
	if _, err := r.Run(ctx, command.Cmd{Name: "systemctl", Args: []string{"daemon-reload"}}); err != nil {
		return fmt.Errorf("systemctl daemon-reload: %w", err)
	}
	if a.hostname {
		// systemd set the name from /etc/hostname before the config wrote it.
		if _, err := r.Run(ctx, command.Cmd{Name: "hostname", Args: []string{"--file", HostnamePath}}); err != nil {
			return fmt.Errorf("set the hostname: %w", err)
		}
	}
	if a.network {
		// Reloads networkd when it runs or is starting (its ExecReload is networkctl
		// reload); one that has not started yet reads the files when it starts.
		if _, err := r.Run(ctx, command.Cmd{Name: "systemctl", Args: []string{"try-reload-or-restart", "systemd-networkd.service"}}); err != nil {
			return fmt.Errorf("reload systemd-networkd: %w", err)
		}
		con.printf("systemd-networkd: network files reloaded")
	}
	if len(a.enabled) == 0 {
		return nil
	}
	if _, err := r.Run(ctx, command.Cmd{Name: "systemctl", Args: append([]string{"--no-block", "start"}, a.enabled...)}); err != nil {
		return fmt.Errorf("start enabled units: %w", err)
	}
	con.printf("started %d enabled units", len(a.enabled))
	return nil
}

// fetch returns the raw config, or nil when this machine has none.
func fetch(ctx context.Context, o Options, f *resource.Fetcher, con console) ([]byte, error) {
	cmdline, err := providers.ReadCmdline(o.Cmdline)
	if err != nil {
		return nil, err
	}
	env := providers.Env{Cmdline: cmdline, Sysfs: o.Sysfs, ConfigFile: o.ConfigFile, Runner: o.Runner,
		Fetcher: f, Endpoints: o.Endpoints, DevDir: o.DevDir}
	p, err := providers.Select(ctx, o.Platform, env)
	if err != nil {
		return nil, err
	}
	if p == nil {
		con.printf("no config: no %s= on the kernel command line and no QEMU fw_cfg device", providers.ParamPlatform)
		return nil, nil
	}
	con.printf("platform %s", p.Name())
	raw, err := p.Fetch(ctx, env)
	if errors.Is(err, providers.ErrNoConfig) {
		con.printf("no config from %s: %s", p.Name(), strings.TrimPrefix(err.Error(), providers.ErrNoConfig.Error()+": "))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch config from %s: %w", p.Name(), err)
	}
	if len(raw) == 0 {
		con.printf("no config from %s: the config is empty", p.Name())
		return nil, nil
	}
	con.printf("config from %s: %d bytes", p.Name(), len(raw))
	return raw, nil
}

// hostKeys makes the missing SSH host keys and prints every host key's fingerprint.
func hostKeys(fsys *rootfs.FS, hostname string, con console) error {
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	made, err := hostkeys.Ensure(fsys, "root@"+hostname)
	if len(made) > 0 {
		labels := make([]string, len(made))
		for i, k := range made {
			labels[i] = k.Label
		}
		con.printf("made ssh host keys: %s", strings.Join(labels, " "))
	}
	keys, ferr := hostkeys.Fingerprints(fsys)
	for _, k := range keys {
		con.printf("host key %s %s", k.Kind.Label, k.Fingerprint)
	}
	if err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("ssh host keys: %w", err)
	}
	return nil
}
