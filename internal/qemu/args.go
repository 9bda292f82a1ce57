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
	// Forwards are more host ports on 127.0.0.1 forwarded to guest TCP ports, on the same
	// restricted user-mode NIC as SSH.
	Forwards []Forward
	// Cluster, when set, is a second NIC on a VDE switch: the cluster's private segment.
	Cluster *ClusterNIC
	// TBSizeMiB, when not 0, sizes TCG's translation cache (QEMU's default is 1 GiB a VM).
	TBSizeMiB int
}

// Forward is one host port on 127.0.0.1 forwarded to a guest TCP port.
type Forward struct {
	Host  int
	Guest int
}

// ClusterNIC is a NIC on a VDE switch.
type ClusterNIC struct {
	Sock string // the switch's control directory
	MAC  string // 52:54:00:xx:xx:xx
}

// PCI slots of the NICs on the q35 root bus: they fix the guest's interface names
// (systemd's predictable names: enp0s<slot>), which a node's network files match.
const (
	UserNICSlot    = 3
	ClusterNICSlot = 4
	// UserInterface and ClusterInterface are the names the guest gives the two NICs.
	UserInterface    = "enp0s3"
	ClusterInterface = "enp0s4"
)

// IgnitionFwCfgName is the fw_cfg key under which Ignition's qemu provider looks.
const IgnitionFwCfgName = "opt/com.coreos/config"

// Args builds the qemu-system-x86_64 argument list for c. The guest gets user-mode networking
// with restrict=on: it reaches nothing, and only the forwarded SSH port reaches it.
func Args(c Config) []string {
	args := []string{
		"-machine", "q35",
		"-accel", accelOpt(c),
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
		"-netdev", userNetdev(c),
		// romfile= drops iPXE: the machine boots from its disk or not at all.
		"-device", fmt.Sprintf("virtio-net-pci,netdev=net0,romfile=,bus=pcie.0,addr=%#x", UserNICSlot),
		"-object", "rng-random,id=rng0,filename=/dev/urandom",
		"-device", "virtio-rng-pci,rng=rng0",
	}
	if c.Cluster != nil {
		args = append(args,
			"-netdev", "vde,id=net1,sock="+escapeOpt(c.Cluster.Sock),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=net1,mac=%s,romfile=,bus=pcie.0,addr=%#x", c.Cluster.MAC, ClusterNICSlot))
	}
	if c.Ignition != "" {
		args = append(args, "-fw_cfg", "name="+IgnitionFwCfgName+",file="+escapeOpt(c.Ignition))
	}
	return args
}

func accelOpt(c Config) string {
	if c.Accel == AccelTCG && c.TBSizeMiB > 0 {
		return fmt.Sprintf("tcg,tb-size=%d", c.TBSizeMiB)
	}
	return string(c.Accel)
}

// userNetdev is the restricted user-mode network: it reaches nothing, and only the forwarded
// ports on 127.0.0.1 reach the guest.
func userNetdev(c Config) string {
	opts := []string{"user", "id=net0", "restrict=on", fmt.Sprintf("hostfwd=tcp:127.0.0.1:%d-:22", c.SSHPort)}
	for _, f := range c.Forwards {
		opts = append(opts, fmt.Sprintf("hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest))
	}
	return strings.Join(opts, ",")
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
