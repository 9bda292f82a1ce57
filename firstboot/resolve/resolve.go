// Package resolve turns a machine's raw config into the one config to apply, as Ignition's
// fetch stage does: it parses and checks it, follows ignition.config.replace and
// ignition.config.merge (fetching each referenced config, verifying its hash, parsing and
// checking it, merging with Ignition's merge semantics), and sets up the fetcher with the
// timeouts, certificate authorities and proxy of the configs it read. It writes nothing.
package resolve

import (
	"context"
	"errors"
	"fmt"

	"github.com/coreos/ignition/v2/config/v3_6"
	"github.com/coreos/ignition/v2/config/v3_6/types"
	"github.com/mantlet/mantlet/firstboot/config"
	"github.com/mantlet/mantlet/firstboot/resource"
)

// MaxDepth bounds how deeply referenced configs may reference configs.
const MaxDepth = 10

// ErrTooDeep reports a chain of referenced configs longer than MaxDepth (or a loop).
var ErrTooDeep = errors.New("referenced configs nested too deeply")

// Result is a resolved config and the fetcher set up for its remote sources.
type Result struct {
	Config  config.Config
	Fetcher *resource.Fetcher
	Report  config.Report // problems of the machine's config and of every referenced one
}

// Resolve parses raw and renders it. base is the fetcher without config settings; the
// fetcher of the result carries the settings of the final config, as Ignition does before
// its files stage. On error the report says what was wrong where it is a config problem.
func Resolve(ctx context.Context, base *resource.Fetcher, raw []byte) (Result, error) {
	cfg, rep := config.Parse(raw)
	res := Result{Report: rep}
	if err := rep.Err(); err != nil {
		return res, err
	}
	r := &resolver{base: base, rep: &res.Report}
	f, err := base.Configure(ctx, cfg.Ignition)
	if err != nil {
		return res, fmt.Errorf("%s: %w", config.Path("ignition"), err)
	}
	cfg, err = r.render(ctx, f, cfg, "$", 0)
	if err != nil {
		return res, err
	}
	if f, err = base.Configure(ctx, cfg.Ignition); err != nil {
		return res, fmt.Errorf("%s: %w", config.Path("ignition"), err)
	}
	res.Config, res.Fetcher = cfg, f
	return res, nil
}

type resolver struct {
	base *resource.Fetcher
	rep  *config.Report
}

// render is Ignition's ConfigFetcher.RenderConfig: a replace wins over everything else in
// cfg; otherwise each merge is fetched, the fetcher reset with the settings of the config
// merged so far plus the new one, the new one rendered and merged in.
func (r *resolver) render(ctx context.Context, f *resource.Fetcher, cfg types.Config, where string, depth int) (types.Config, error) {
	if depth > MaxDepth {
		return types.Config{}, fmt.Errorf("%s: %w (at most %d)", where, ErrTooDeep, MaxDepth)
	}
	if ref := cfg.Ignition.Config.Replace; ref.Source != nil {
		at := where + ".ignition.config.replace"
		child, err := r.fetch(ctx, f, ref, at)
		if err != nil {
			return types.Config{}, err
		}
		cf, err := r.base.Configure(ctx, child.Ignition)
		if err != nil {
			return types.Config{}, fmt.Errorf("%s: ignition: %w", at, err)
		}
		return r.render(ctx, cf, child, at, depth+1)
	}
	merged := cfg
	for i, ref := range cfg.Ignition.Config.Merge {
		at := fmt.Sprintf("%s.ignition.config.merge[%d]", where, i)
		child, err := r.fetch(ctx, f, ref, at)
		if err != nil {
			return types.Config{}, err
		}
		settings := v3_6.Merge(merged, child)
		if f, err = r.base.Configure(ctx, settings.Ignition); err != nil {
			return types.Config{}, fmt.Errorf("%s: ignition: %w", at, err)
		}
		if child, err = r.render(ctx, f, child, at, depth+1); err != nil {
			return types.Config{}, err
		}
		merged = v3_6.Merge(merged, child)
	}
	return merged, nil
}

// fetch gets, verifies and parses one referenced config.
func (r *resolver) fetch(ctx context.Context, f *resource.Fetcher, ref types.Resource, at string) (types.Config, error) {
	raw, err := f.Config(ctx, ref)
	if err != nil {
		return types.Config{}, fmt.Errorf("%s: %w", at, err)
	}
	cfg, rep := config.Parse(raw)
	for _, p := range rep.Warnings {
		p.Path = at + "→" + p.Path
		r.rep.Warnings = append(r.rep.Warnings, p)
	}
	for _, p := range rep.Errors {
		p.Path = at + "→" + p.Path
		r.rep.Errors = append(r.rep.Errors, p)
	}
	if err := rep.Err(); err != nil {
		return types.Config{}, fmt.Errorf("%s: referenced config: %w", at, err)
	}
	return cfg, nil
}
