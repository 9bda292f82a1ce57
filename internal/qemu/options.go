package qemu

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
)

// Accel chooses how QEMU runs the guest's CPUs.
type Accel string

// The accelerators. AccelAuto picks KVM only when /dev/kvm opens read-write and a probe VM
// runs on it, TCG (software emulation) otherwise.
const (
	AccelAuto Accel = "auto"
	AccelKVM  Accel = "kvm"
	AccelTCG  Accel = "tcg"
)

// AccelEnv, when set to auto, kvm or tcg, replaces an Options.Accel of "" or auto: the easy way
// to force TCG in CI without touching the tests.
const AccelEnv = "MANTLET_QEMU_ACCEL"

// ParseAccel checks an accelerator name.
func ParseAccel(s string) (Accel, error) {
	switch a := Accel(s); a {
	case AccelAuto, AccelKVM, AccelTCG:
		return a, nil
	}
	return "", fmt.Errorf("unknown accelerator %q (want auto, kvm or tcg)", s)
}

// Defaults of Options.
const (
	DefaultMemoryMiB = 1536
	DefaultCPUs      = 2
	// DefaultExtraDisk is what the overlay adds to the image's virtual size when
	// Options.DiskSize is 0: room for the state partition the first boot grows.
	DefaultExtraDisk int64 = 4 << 30
	DefaultBinary          = "qemu-system-x86_64"
)

// Options describe one VM. Only Image is required.
type Options struct {
	Image     string // qcow2 or raw disk image (format from the extension, else qemu-img info)
	Ignition  string // optional Ignition config, passed as fw_cfg opt/com.coreos/config
	MemoryMiB int    // 0: DefaultMemoryMiB
	CPUs      int    // 0: DefaultCPUs
	Accel     Accel  // "" or auto: see AccelAuto and AccelEnv
	SSHPort   int    // host port forwarded to the guest's port 22; 0 picks a free one
	// DiskSize is the virtual size of the throwaway overlay in bytes; 0 means the image's
	// virtual size plus DefaultExtraDisk. It may not be smaller than the image.
	DiskSize int64
	// Persist boots the image itself read-write instead of a throwaway overlay.
	Persist bool
	// Scratch, with Persist, marks the image as scratch space (a cluster node's own overlay):
	// its writes need not survive a host crash, so the host page cache may hold them.
	Scratch bool
	// Forwards are more host ports on 127.0.0.1 forwarded to guest TCP ports; Host 0 picks
	// a free port (see Machine.Forwards).
	Forwards []Forward
	// Cluster, when set, plugs a second NIC into a VDE switch (see Switch).
	Cluster *ClusterNIC
	// TBSizeMiB sizes TCG's translation cache; 0 keeps QEMU's default (1 GiB).
	TBSizeMiB int
	// ConsoleLog, when set, receives the serial console (created or truncated).
	ConsoleLog string
	// Console, when set, also receives the serial console (a terminal, a test log).
	Console io.Writer
	// KeepTemp keeps the temporary directory (overlay, firmware variables) after the VM ends.
	KeepTemp bool
	TempDir  string // parent of the temporary directory; "" for os.TempDir()

	Firmware *Firmware      // nil: FindFirmware()
	Binary   string         // "": DefaultBinary
	Runner   command.Runner // runs qemu-img and the KVM probe; nil: command.Exec{}
	Log      *slog.Logger   // nil: slog.Default()
}

// Validate checks the options before anything is created, reporting every problem at once.
func (o Options) Validate() error {
	var errs []error
	if o.Image == "" {
		errs = append(errs, errors.New("image: not set"))
	} else if err := regularFile(o.Image); err != nil {
		errs = append(errs, fmt.Errorf("image: %w", err))
	}
	if o.Ignition != "" {
		if err := regularFile(o.Ignition); err != nil {
			errs = append(errs, fmt.Errorf("ignition: %w", err))
		}
	}
	if o.MemoryMiB < 0 {
		errs = append(errs, fmt.Errorf("memory: %d MiB is negative", o.MemoryMiB))
	}
	if o.CPUs < 0 {
		errs = append(errs, fmt.Errorf("cpus: %d is negative", o.CPUs))
	}
	if o.Accel != "" {
		if _, err := ParseAccel(string(o.Accel)); err != nil {
			errs = append(errs, fmt.Errorf("accel: %w", err))
		}
	}
	if o.SSHPort < 0 || o.SSHPort > 65535 {
		errs = append(errs, fmt.Errorf("ssh port: %d out of range", o.SSHPort))
	}
	for i, f := range o.Forwards {
		if f.Host < 0 || f.Host > 65535 {
			errs = append(errs, fmt.Errorf("forwards[%d]: host port %d out of range", i, f.Host))
		}
		if f.Guest <= 0 || f.Guest > 65535 {
			errs = append(errs, fmt.Errorf("forwards[%d]: guest port %d out of range", i, f.Guest))
		}
	}
	if o.Cluster != nil {
		if o.Cluster.Sock == "" {
			errs = append(errs, errors.New("cluster: no switch socket"))
		}
		if _, err := net.ParseMAC(o.Cluster.MAC); err != nil {
			errs = append(errs, fmt.Errorf("cluster: mac: %w", err))
		}
	}
	if o.TBSizeMiB < 0 {
		errs = append(errs, fmt.Errorf("tb size: %d MiB is negative", o.TBSizeMiB))
	}
	if o.Scratch && !o.Persist {
		errs = append(errs, errors.New("scratch: only with persist (the throwaway overlay is scratch already)"))
	}
	if o.DiskSize < 0 {
		errs = append(errs, fmt.Errorf("disk size: %d is negative", o.DiskSize))
	}
	if o.Persist && o.DiskSize != 0 {
		errs = append(errs, errors.New("disk size: only for the throwaway overlay, not with persist"))
	}
	return errors.Join(errs...)
}

func regularFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	return nil
}

// withDefaults fills in the zero values.
func (o Options) withDefaults() Options {
	if o.MemoryMiB == 0 {
		o.MemoryMiB = DefaultMemoryMiB
	}
	if o.CPUs == 0 {
		o.CPUs = DefaultCPUs
	}
	if o.Accel == "" || o.Accel == AccelAuto {
		o.Accel = AccelAuto
		if a, err := ParseAccel(os.Getenv(AccelEnv)); err == nil {
			o.Accel = a
		}
	}
	if o.Binary == "" {
		o.Binary = DefaultBinary
	}
	if o.Runner == nil {
		o.Runner = command.Exec{Log: o.Log}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// ParseSize reads a size in bytes with an optional binary unit: 4096, 512K, 64M, 64MiB, 8G,
// 8GiB, 1T. K, M, G and T are powers of 1024, as in qemu-img.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "iB"), "B")
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		case 't', 'T':
			shift = 40
		}
		if shift > 0 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit K, M, G or T", s)
	}
	if n > (1<<62)>>shift {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n << shift, nil
}
