package providers

import (
	"context"
)

// Select picks the provider for this machine: the one named by platform if not "", else
// the one named by ignition.platform.id= on the kernel command line, else qemu when a
// fw_cfg device is found. It returns nil when there is no provider: no config.
func Select(ctx context.Context, platform string, env Env) (Provider, error) {
	if platform == "" {
		platform = env.Cmdline[ParamPlatform]
	}
	if platform != "" {
		return Get(platform)
	}
	if FwCfgPresent(ctx, env) {
		return Get("qemu")
	}
	return nil, nil
}
