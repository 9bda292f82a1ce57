package providers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/mantlet/mantlet/internal/command"
)

// FwCfgKey is the fw_cfg entry QEMU is given the config in
// (-fw_cfg name=opt/com.coreos/config,file=CONFIG.ign).
const FwCfgKey = "opt/com.coreos/config"

func init() { Register(qemu{}) }

// qemu reads the config from QEMU's fw_cfg device through sysfs.
type qemu struct{}

func (qemu) Name() string { return "qemu" }

func (qemu) Fetch(ctx context.Context, env Env) ([]byte, error) {
	if !FwCfgPresent(ctx, env) {
		return nil, fmt.Errorf("%w: no fw_cfg device in %s", ErrNoConfig, env.Sysfs)
	}
	raw := filepath.Join(fwCfgDir(env.Sysfs), "by_name", filepath.FromSlash(FwCfgKey), "raw")
	b, err := os.ReadFile(raw)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no fw_cfg entry %s", ErrNoConfig, FwCfgKey)
	}
	if err != nil {
		return nil, fmt.Errorf("read fw_cfg entry %s: %w", FwCfgKey, err)
	}
	return b, nil
}

func fwCfgDir(sysfs string) string { return filepath.Join(sysfs, "firmware", "qemu_fw_cfg") }

// FwCfgPresent says whether the fw_cfg device shows in sysfs, loading qemu_fw_cfg first if
// it does not. A failed modprobe is logged, not returned: no device is an answer too.
func FwCfgPresent(ctx context.Context, env Env) bool {
	dir := fwCfgDir(env.Sysfs)
	if isDir(dir) {
		return true
	}
	if env.Runner != nil {
		if _, err := env.Runner.Run(ctx, ModprobeCmd()); err != nil {
			slog.Debug("modprobe qemu_fw_cfg failed", "err", err)
		}
	}
	return isDir(dir)
}

// ModprobeCmd is the command that loads the fw_cfg driver.
func ModprobeCmd() command.Cmd {
	return command.Cmd{Name: "modprobe", Args: []string{"qemu_fw_cfg"}}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
