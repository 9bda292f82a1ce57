package providers

import (
	"context"
	"fmt"

	"github.com/coreos/ignition/v2/config/v3_6/types"
)

// Kernel command line parameters of the metal provider.
const (
	ParamConfigURL  = "ignition.config.url"
	ParamConfigHash = "ignition.config.hash"
)

func init() { Register(metal{}) }

// metal fetches the config from ignition.config.url= on the kernel command line: https:,
// or http: only when ignition.config.hash=<sha256|sha512>-<hex> pins it (the form of
// Ignition's verification.hash; it may pin an https: config too). Connection errors and
// 5xx answers are retried with backoff while the network comes up, bounded by the
// fetcher's total time. No ignition.config.url= means no config.
type metal struct{}

func (metal) Name() string { return "metal" }

func (metal) Fetch(ctx context.Context, env Env) ([]byte, error) {
	src := env.Cmdline[ParamConfigURL]
	if src == "" {
		return nil, fmt.Errorf("%w: no %s= on the kernel command line", ErrNoConfig, ParamConfigURL)
	}
	r := types.Resource{Source: &src}
	if h := env.Cmdline[ParamConfigHash]; h != "" {
		r.Verification.Hash = &h
	}
	b, err := env.fetcher().Config(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("%s=: %w", ParamConfigURL, err)
	}
	return b, nil
}
