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
)

//go:embed units/mantlet-firstboot.service
var unitFile []byte

//go:embed units/ssh-mantlet-firstboot.conf
var sshDropIn []byte

// ImageFile is one file the image builder puts into the image.
type ImageFile struct {
	Path    string
	Mode    fs.FileMode
	Data    []byte
	Symlink string // not "": the file is a symlink to this target
}

// ImageFiles are the unit files and the enablement symlink; not the binary (see BinaryPath).
func ImageFiles() []ImageFile {
	return []ImageFile{
		{Path: UnitPath, Mode: 0o644, Data: clone(unitFile)},
		{Path: SSHDropInPath, Mode: 0o644, Data: clone(sshDropIn)},
		{Path: WantsPath, Mode: fs.ModeSymlink | 0o777, Symlink: UnitPath},
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
