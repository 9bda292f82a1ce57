package firstboot

import (
	_ "embed"
	"io/fs"
)

// BinaryPath is where the image builder installs the agent.
const BinaryPath = "/usr/lib/mantlet/mantlet-firstboot"

// Paths of the files the agent brings into the image.
const (
	UnitName      = "mantlet-firstboot.service"
	UnitPath      = "/usr/lib/systemd/system/" + UnitName
	SSHDropInPath = "/usr/lib/systemd/system/ssh.service.d/mantlet-firstboot.conf"
	WantsPath     = "/etc/systemd/system/multi-user.target.wants/" + UnitName
	// ClusterTarget is what a node reaches when it may join its cluster: it requires a
	// successful first boot. Cluster components are wanted by it.
	ClusterTarget      = "mantlet-cluster.target"
	ClusterTargetPath  = "/usr/lib/systemd/system/" + ClusterTarget
	ClusterTargetWants = "/etc/systemd/system/multi-user.target.wants/" + ClusterTarget
	// BootedUnit prints BootedMarker on the console once multi-user.target is reached.
	BootedUnit      = "mantlet-booted.service"
	BootedUnitPath  = "/usr/lib/systemd/system/" + BootedUnit
	BootedUnitWants = "/etc/systemd/system/multi-user.target.wants/" + BootedUnit
	// BootedMarker starts the console line that says the boot has finished, every boot.
	BootedMarker = "mantlet: boot finished"
)

//go:embed units/mantlet-firstboot.service
var unitFile []byte

//go:embed units/ssh-mantlet-firstboot.conf
var sshDropIn []byte

//go:embed units/mantlet-cluster.target
var clusterTarget []byte

//go:embed units/mantlet-booted.service
var bootedUnit []byte

//go:embed units/component-mantlet-firstboot.conf
var componentDropIn []byte

// Components are the cluster components' units: each gets a drop-in (ComponentDropInPath)
// that requires and orders it after mantlet-firstboot, so that none starts when first
// boot failed. mesos-slave is the agent's older name.
var Components = []string{
	"docker.service", "consul.service", "consul-template.service", "nginx.service",
	"zookeeper.service", "mesos-master.service", "mesos-agent.service", "mesos-slave.service",
	"marathon.service", "stunnel4.service",
}

// ComponentDropInPath is where the drop-in of a component's unit goes.
func ComponentDropInPath(unit string) string {
	return "/usr/lib/systemd/system/" + unit + ".d/10-mantlet-firstboot.conf"
}

// ImageFile is one file the image builder puts into the image.
type ImageFile struct {
	Path    string
	Mode    fs.FileMode
	Data    []byte
	Symlink string // not "": the file is a symlink to this target
}

// ImageFiles are the unit files, the drop-ins and the enablement symlink; not the binary
// (see BinaryPath).
func ImageFiles() []ImageFile {
	files := []ImageFile{
		{Path: UnitPath, Mode: 0o644, Data: clone(unitFile)},
		{Path: SSHDropInPath, Mode: 0o644, Data: clone(sshDropIn)},
		{Path: ClusterTargetPath, Mode: 0o644, Data: clone(clusterTarget)},
		{Path: BootedUnitPath, Mode: 0o644, Data: clone(bootedUnit)},
	}
	for _, u := range Components {
		files = append(files, ImageFile{Path: ComponentDropInPath(u), Mode: 0o644, Data: clone(componentDropIn)})
	}
	return append(files,
		ImageFile{Path: WantsPath, Mode: fs.ModeSymlink | 0o777, Symlink: UnitPath},
		ImageFile{Path: ClusterTargetWants, Mode: fs.ModeSymlink | 0o777, Symlink: ClusterTargetPath},
		ImageFile{Path: BootedUnitWants, Mode: fs.ModeSymlink | 0o777, Symlink: BootedUnitPath})
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
