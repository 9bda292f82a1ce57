package qemu

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Firmware is an OVMF pair: the code (mapped read-only) and the variable store template (each
// VM boots a private copy).
type Firmware struct {
	Code string
	Vars string
}

// firmwareDirs are where distributions install OVMF (Debian first).
var firmwareDirs = []string{"/usr/share/OVMF", "/usr/share/edk2/ovmf", "/usr/share/edk2/x64"}

// firmwarePairs are the file names, best first: the 4 MiB builds without Secure Boot
// enforcement, then the 2 MiB ones.
var firmwarePairs = []Firmware{
	{Code: "OVMF_CODE_4M.fd", Vars: "OVMF_VARS_4M.fd"},
	{Code: "OVMF_CODE.4m.fd", Vars: "OVMF_VARS.4m.fd"},
	{Code: "OVMF_CODE.fd", Vars: "OVMF_VARS.fd"},
}

// FindFirmware looks for an installed OVMF pair.
func FindFirmware() (Firmware, error) {
	return findFirmware(firmwareDirs, func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular()
	})
}

func findFirmware(dirs []string, exists func(string) bool) (Firmware, error) {
	for _, pair := range firmwarePairs {
		for _, d := range dirs {
			fw := Firmware{Code: filepath.Join(d, pair.Code), Vars: filepath.Join(d, pair.Vars)}
			if exists(fw.Code) && exists(fw.Vars) {
				return fw, nil
			}
		}
	}
	return Firmware{}, fmt.Errorf("looked in %v: %w", dirs, ErrNoFirmware)
}

// copyFile copies src to a new file dst, readable and writable by the owner only.
func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(out, in)
	return err
}
