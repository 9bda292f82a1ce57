package providers

import (
	"context"
	"fmt"
	"os"
)

func init() { Register(file{}) }

// file reads the config from a path: the --config-file flag, else ignition.config.file= on
// the kernel command line. For metal installs and tests.
type file struct{}

func (file) Name() string { return "file" }

func (file) Fetch(_ context.Context, env Env) ([]byte, error) {
	path := env.ConfigFile
	if path == "" {
		path = env.Cmdline[ParamConfigFile]
	}
	if path == "" {
		return nil, fmt.Errorf("%w: no %s= on the kernel command line", ErrNoConfig, ParamConfigFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	return b, nil
}
