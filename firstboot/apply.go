package firstboot

import (
	"context"
	"fmt"
	"io"

	"github.com/mantlet/mantlet/firstboot/config"
	"github.com/mantlet/mantlet/firstboot/rootfs"
	"github.com/mantlet/mantlet/firstboot/stages"
	"github.com/mantlet/mantlet/internal/command"
)

// ApplyOptions say where and how to apply a config.
type ApplyOptions struct {
	Root   string         // the tree to change; "/" on a machine
	Runner command.Runner // for useradd, groupadd, usermod
	Stdout io.Writer      // progress lines
}

// Apply parses raw, checks it, and applies it to the tree at o.Root with the same code a
// boot uses: no fetching, no stamps, no host keys. Nothing is written unless the whole
// config parsed and every stage prepared.
func Apply(ctx context.Context, o ApplyOptions, raw []byte) error {
	fsys, err := rootfs.Open(o.Root)
	if err != nil {
		return err
	}
	defer fsys.Close()
	return apply(ctx, fsys, o.Runner, nil, console{o.Stdout}, raw)
}

func apply(ctx context.Context, fsys *rootfs.FS, runner command.Runner, j stages.Journal, con console, raw []byte) error {
	cfg, rep := config.Parse(raw)
	printReport(con, rep)
	if err := rep.Err(); err != nil {
		return err
	}
	env := &stages.Env{FS: fsys, Runner: runner, Logf: con.printf, Journal: j}
	return stages.Apply(ctx, env, cfg)
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
