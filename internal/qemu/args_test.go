package qemu

import (
	"slices"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	base := Config{
		Accel: AccelTCG, MemoryMiB: 1536, CPUs: 2,
		FirmwareCode: "/usr/share/OVMF/OVMF_CODE_4M.fd", FirmwareVars: "/tmp/m/OVMF_VARS.fd",
		Disk: "/tmp/m/overlay.qcow2", DiskFormat: "qcow2", Throwaway: true, SSHPort: 2222,
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // consecutive arguments that must appear
		absent []string // arguments that must not appear
	}{
		{
			name: "tcg",
			want: []string{"-accel", "tcg", "-cpu", "max"},
		},
		{
			name:   "kvm",
			change: func(c *Config) { c.Accel = AccelKVM },
			want:   []string{"-accel", "kvm", "-cpu", "host"},
			absent: []string{"max"},
		},
		{
			name:   "memory and cpus",
			change: func(c *Config) { c.MemoryMiB, c.CPUs = 4096, 4 },
			want:   []string{"-m", "4096", "-smp", "4"},
		},
		{
			name:   "restricted network forwards only ssh",
			want:   []string{"-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22", "-device", "virtio-net-pci,netdev=net0,romfile=,bus=pcie.0,addr=0x3"},
			absent: []string{"vde"},
		},
		{
			name:   "named ports forwarded on the same restricted NIC",
			change: func(c *Config) { c.Forwards = []Forward{{Host: 18501, Guest: 8501}, {Host: 18080, Guest: 80}} },
			want:   []string{"-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:18501-:8501,hostfwd=tcp:127.0.0.1:18080-:80"},
		},
		{
			name:   "cluster NIC on the switch, at its own slot and MAC",
			change: func(c *Config) { c.Cluster = &ClusterNIC{Sock: "/t/c,d/switch", MAC: "52:54:00:6d:00:02"} },
			want:   []string{"-netdev", "vde,id=net1,sock=/t/c,,d/switch", "-device", "virtio-net-pci,netdev=net1,mac=52:54:00:6d:00:02,romfile=,bus=pcie.0,addr=0x4"},
		},
		{
			name:   "translation cache sized under TCG",
			change: func(c *Config) { c.TBSizeMiB = 256 },
			want:   []string{"-accel", "tcg,tb-size=256"},
		},
		{
			name:   "no translation cache size under KVM",
			change: func(c *Config) { c.Accel, c.TBSizeMiB = AccelKVM, 256 },
			want:   []string{"-accel", "kvm"},
		},
		{
			name: "firmware as two pflash drives",
			want: []string{
				"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
				"-drive", "if=pflash,format=raw,unit=1,file=/tmp/m/OVMF_VARS.fd",
			},
		},
		{
			name: "throwaway overlay",
			want: []string{"-drive", "if=none,id=disk0,format=qcow2,discard=unmap,cache=unsafe,file=/tmp/m/overlay.qcow2", "-device", "virtio-blk-pci,drive=disk0,bootindex=1"},
		},
		{
			name:   "persistent raw image keeps the safe cache",
			change: func(c *Config) { c.Disk, c.DiskFormat, c.Throwaway = "/img/node.raw", "raw", false },
			want:   []string{"-drive", "if=none,id=disk0,format=raw,discard=unmap,file=/img/node.raw"},
		},
		{
			name:   "commas in paths are doubled",
			change: func(c *Config) { c.Disk = "/tmp/a,b.qcow2"; c.Ignition = "/tmp/x,y.ign" },
			want:   []string{"-fw_cfg", "name=opt/com.coreos/config,file=/tmp/x,,y.ign"},
		},
		{
			name:   "ignition",
			change: func(c *Config) { c.Ignition = "/work/node-1.ign" },
			want:   []string{"-fw_cfg", "name=opt/com.coreos/config,file=/work/node-1.ign"},
		},
		{
			name:   "no ignition, no fw_cfg",
			absent: []string{"-fw_cfg"},
		},
		{
			name: "console on stdio, no display, no monitor, no reboot, entropy",
			want: []string{"-nodefaults", "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot"},
		},
		{
			name: "rng",
			want: []string{"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0"},
		},
		{
			name: "q35",
			want: []string{"-machine", "q35"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			if tt.change != nil {
				tt.change(&c)
			}
			got := Args(c)
			if len(tt.want) > 0 && !containsRun(got, tt.want) {
				t.Errorf("Args() = %q\nwant the run %q", got, tt.want)
			}
			for _, a := range tt.absent {
				if slices.Contains(got, a) {
					t.Errorf("Args() = %q, want no %q", got, a)
				}
			}
		})
	}
}

// TestArgsComplete pins the whole list once, so that any change to it is a visible diff.
func TestArgsComplete(t *testing.T) {
	got := strings.Join(Args(Config{
		Accel: AccelTCG, MemoryMiB: 1536, CPUs: 2, FirmwareCode: "/fw/CODE.fd", FirmwareVars: "/t/VARS.fd",
		Disk: "/t/overlay.qcow2", DiskFormat: "qcow2", Throwaway: true, Ignition: "/c.ign", SSHPort: 40022,
	}), " ")
	want := "-machine q35 -accel tcg -cpu max -m 1536 -smp 2 -nodefaults -display none -monitor none -serial stdio -no-reboot" +
		" -drive if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd -drive if=pflash,format=raw,unit=1,file=/t/VARS.fd" +
		" -drive if=none,id=disk0,format=qcow2,discard=unmap,cache=unsafe,file=/t/overlay.qcow2 -device virtio-blk-pci,drive=disk0,bootindex=1" +
		" -netdev user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22 -device virtio-net-pci,netdev=net0,romfile=,bus=pcie.0,addr=0x3" +
		" -object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-pci,rng=rng0" +
		" -fw_cfg name=opt/com.coreos/config,file=/c.ign"
	if got != want {
		t.Errorf("Args() =\n%s\nwant\n%s", got, want)
	}
}

// containsRun reports whether want appears in args as consecutive elements.
func containsRun(args, want []string) bool {
	for i := 0; i+len(want) <= len(args); i++ {
		if slices.Equal(args[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

func TestSwitchArgs(t *testing.T) {
	got := strings.Join(SwitchArgs("/t/c/switch", 40), " ")
	// No --tap (no host interface joins), no --daemon (the harness owns the process), and
	// only this user may plug in.
	want := "--sock /t/c/switch --dirmode 0700 --mode 0600 --numports 40"
	if got != want {
		t.Errorf("SwitchArgs() = %s, want %s", got, want)
	}
}
