package qemu

import (
	"fmt"
	"strconv"
	"strings"
)

// Config is everything the QEMU command line depends on, resolved: no defaults, no lookups.
type Config struct {
	Accel        Accel // kvm or tcg
	MemoryMiB    int
	CPUs         int
	FirmwareCode string // OVMF code, mapped read-only
	FirmwareVars string // a private, writable copy of the OVMF variables
	Disk         string
	DiskFormat   string // qcow2 or raw
	// Throwaway marks the disk as a temporary overlay: its writes need not survive a host
	// crash, so the host page cache may hold them (cache=unsafe, much faster under TCG).
	Throwaway bool
	Ignition  string // "" for none
	SSHPort   int    // host port on 127.0.0.1 forwarded to the guest's port 22
}

// IgnitionFwCfgName is the fw_cfg key under which Ignition's qemu provider looks.
const IgnitionFwCfgName = "opt/com.coreos/config"

// Args builds the qemu-system-x86_64 argument list for c. The guest gets user-mode networking
// with restrict=on: it reaches nothing, and only the forwarded SSH port reaches it.
func Args(c Config) []string {
	args := []string{
		"-machine", "q35",
		"-accel", string(c.Accel),
		"-cpu", cpuModel(c.Accel),
		"-m", strconv.Itoa(c.MemoryMiB),
		"-smp", strconv.Itoa(c.CPUs),
		"-nodefaults",
		"-display", "none",
		"-monitor", "none",
		"-serial", "stdio",
		"-no-reboot",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + escapeOpt(c.FirmwareCode),
		"-drive", "if=pflash,format=raw,unit=1,file=" + escapeOpt(c.FirmwareVars),
		"-drive", diskDrive(c),
		"-device", "virtio-blk-pci,drive=disk0,bootindex=1",
		"-netdev", fmt.Sprintf("user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22", c.SSHPort),
		// romfile= drops iPXE: the machine boots from its disk or not at all.
		"-device", "virtio-net-pci,netdev=net0,romfile=",
		"-object", "rng-random,id=rng0,filename=/dev/urandom",
		"-device", "virtio-rng-pci,rng=rng0",
	}
	if c.Ignition != "" {
		args = append(args, "-fw_cfg", "name="+IgnitionFwCfgName+",file="+escapeOpt(c.Ignition))
	}
	return args
}

func cpuModel(a Accel) string {
	if a == AccelKVM {
		return "host"
	}
	return "max"
}

func diskDrive(c Config) string {
	opts := []string{"if=none", "id=disk0", "format=" + c.DiskFormat, "discard=unmap"}
	if c.Throwaway {
		opts = append(opts, "cache=unsafe")
	}
	return strings.Join(append(opts, "file="+escapeOpt(c.Disk)), ",")
}

// escapeOpt escapes a value inside a QEMU option list, where a comma is written twice.
func escapeOpt(v string) string {
	return strings.ReplaceAll(v, ",", ",,")
}
