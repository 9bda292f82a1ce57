package providers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mantlet/mantlet/internal/command"
)

func init() { Register(openstack{}) }

// Where OpenStack keeps the user data, on the config drive and on the metadata service.
const (
	ConfigDriveLabel      = "config-2"
	OpenStackUserDataPath = "/openstack/latest/user_data"
)

// openstack reads the user data from the config drive (a filesystem labelled config-2,
// CONFIG-2 on vfat, mounted read-only on a temporary directory) when the machine has one,
// else from the metadata service. No user data means no config.
type openstack struct{}

func (openstack) Name() string { return "openstack" }

func (openstack) Fetch(ctx context.Context, env Env) ([]byte, error) {
	if dev := configDrive(env.DevDir); dev != "" {
		return readConfigDrive(ctx, env, dev)
	}
	return env.get(ctx, orEndpoint(env.Endpoints.OpenStack, DefaultOpenStackEndpoint), OpenStackUserDataPath, "", nil)
}

// configDrive returns the config drive's device, "" when there is none.
func configDrive(devDir string) string {
	if devDir == "" {
		devDir = "/dev"
	}
	for _, label := range []string{ConfigDriveLabel, "CONFIG-2"} {
		p := filepath.Join(devDir, "disk", "by-label", label)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func readConfigDrive(ctx context.Context, env Env, dev string) (b []byte, err error) {
	if env.Runner == nil {
		return nil, errors.New("config drive: no command runner to mount it")
	}
	dir, err := os.MkdirTemp("", "mantlet-config-2-")
	if err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	defer os.Remove(dir)
	if _, err := env.Runner.Run(ctx, MountCmd(dev, dir)); err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	defer func() {
		if _, uerr := env.Runner.Run(context.WithoutCancel(ctx), UmountCmd(dir)); uerr != nil && err == nil {
			err = fmt.Errorf("config drive: %w", uerr)
		}
	}()
	b, err = os.ReadFile(filepath.Join(dir, filepath.FromSlash(OpenStackUserDataPath)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: the config drive has no %s", ErrNoConfig, OpenStackUserDataPath)
	}
	if err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	return b, nil
}

// MountCmd mounts a config drive read-only, without devices, set-uid or executables.
func MountCmd(dev, dir string) command.Cmd {
	return command.Cmd{Name: "mount", Args: []string{"-o", "ro,nodev,nosuid,noexec", dev, dir}}
}

// UmountCmd unmounts it.
func UmountCmd(dir string) command.Cmd {
	return command.Cmd{Name: "umount", Args: []string{dir}}
}
