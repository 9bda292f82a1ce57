package firstboot

import (
	"context"
	"fmt"
	"io"
	"path"

	"github.com/mantlet/mantlet/firstboot/config"
	"github.com/mantlet/mantlet/firstboot/resolve"
	"github.com/mantlet/mantlet/firstboot/resource"
	"github.com/mantlet/mantlet/firstboot/rootfs"
	"github.com/mantlet/mantlet/firstboot/stages"
	"github.com/mantlet/mantlet/internal/command"
)

// ApplyOptions say where and how to apply a config.
type ApplyOptions struct {
	Root   string         // the tree to change; "/" on a machine
	Runner command.Runner // for useradd, groupadd, usermod
	Stdout io.Writer      // progress lines
	// Fetcher gets referenced configs and remote file contents; nil: a default one. The
	// seam tests use.
	Fetcher *resource.Fetcher
}

// Apply parses raw, checks it, resolves it (referenced configs and remote contents are
// fetched) and applies it to the tree at o.Root with the same code a boot uses: no
// provider, no stamps, no host keys. Nothing is written unless the whole config parsed,
// every resource was fetched and verified and every stage prepared, and a failure while
// writing undoes every change: the tree is left as it was.
func Apply(ctx context.Context, o ApplyOptions, raw []byte) error {
	fsys, err := rootfs.Open(o.Root)
	if err != nil {
		return err
	}
	defer fsys.Close()
	con := console{o.Stdout}
	_, err = apply(ctx, fsys, o.Runner, nil, "", con, withLog(o.Fetcher, con), raw)
	return err
}

// applied is what a live boot does once a config is written.
type applied struct {
	enabled  []string // the units the config enables, to start
	network  bool     // the config wrote systemd-networkd files: networkd reloads them
	hostname bool     // the config wrote /etc/hostname: the running system takes the name
}

// HostnamePath is the file that names the machine.
const HostnamePath = "/etc/hostname"

// NetworkDir is where systemd-networkd reads the files a config may write.
const NetworkDir = "/etc/systemd/network"

// apply resolves and applies raw under fsys, in one transaction whose undo log is undoLog
// ("": in memory).
func apply(ctx context.Context, fsys *rootfs.FS, runner command.Runner, j stages.Journal, undoLog string, con console, f *resource.Fetcher, raw []byte) (applied, error) {
	res, err := resolve.Resolve(ctx, f, raw)
	printReport(con, res.Report)
	if err != nil {
		return applied{}, err
	}
	env := &stages.Env{FS: fsys, Runner: runner, Logf: con.printf, Journal: j, UndoLog: undoLog, Fetcher: res.Fetcher}
	if err := stages.Apply(ctx, env, res.Config); err != nil {
		return applied{}, err
	}
	var a applied
	for _, u := range res.Config.Systemd.Units {
		if u.Enabled != nil && *u.Enabled && (u.Mask == nil || !*u.Mask) {
			a.enabled = append(a.enabled, u.Name)
		}
	}
	for _, f := range res.Config.Storage.Files {
		p := path.Clean(f.Path)
		a.network = a.network || path.Dir(p) == NetworkDir
		a.hostname = a.hostname || p == HostnamePath
	}
	for _, l := range res.Config.Storage.Links {
		if path.Dir(path.Clean(l.Path)) == NetworkDir {
			a.network = true
		}
	}
	return a, nil
}

// withLog returns a copy of f (a default fetcher when nil) that logs to the console unless
// it logs elsewhere already.
func withLog(f *resource.Fetcher, con console) *resource.Fetcher {
	var g resource.Fetcher
	if f != nil {
		g = *f
	}
	if g.Logf == nil {
		g.Logf = con.printf
	}
	return &g
}

func printReport(con console, rep config.Report) {
	for _, w := range rep.Warnings {
		con.printf("warning: %s", w)
	}
	for _, e := range rep.Errors {
		con.printf("error: %s", e)
	}
}

// Validate parses and checks a config without applying it, printing every problem (one a
// line, each with its JSON path) to w. It fails when there is an error.
func Validate(raw []byte, w io.Writer) error {
	_, rep := config.Parse(raw)
	for _, p := range append(rep.Errors, rep.Warnings...) {
		fmt.Fprintf(w, "%s: %s\n", p.Severity, p)
	}
	return rep.Err()
}
