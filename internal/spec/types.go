// Package spec holds the image definition and role profiles: YAML data, decoded with unknown
// fields rejected, validated as a whole (every error at once, each naming its field path and
// line) and expanded into the Plan that the build pipeline executes.
package spec

import "io/fs"

// Image is an image definition (images/*.yaml): what to bake, from which Debian release.
type Image struct {
	// Name names the outputs: out/NAME.raw, out/NAME.qcow2, out/NAME.manifest.json.
	Name string `yaml:"name"`
	// Release is the Debian codename (bookworm).
	Release string `yaml:"release"`
	// Suites to install from, e.g. bookworm, bookworm-updates, bookworm-security.
	Suites []string `yaml:"suites"`
	// Components of the archive (main).
	Components []string `yaml:"components"`
	// Architecture is the Debian architecture; only amd64 is supported.
	Architecture string `yaml:"architecture"`
	// Mirror, when set, replaces the build machine's own apt sources.
	Mirror *Mirror `yaml:"mirror,omitempty"`
	// SourceDateEpoch pins every timestamp in the outputs (seconds since 1970).
	SourceDateEpoch int64  `yaml:"source_date_epoch"`
	Kernel          Kernel `yaml:"kernel"`
	// Packages installed in every image of this definition (profiles add more).
	Packages []string `yaml:"packages"`
	RootFS   RootFS   `yaml:"rootfs"`
	Disk     Disk     `yaml:"disk"`
	// Formats are the outputs written by default: raw, qcow2, vmdk, vhd.
	Formats []string `yaml:"formats"`
}

// Mirror names the archive for the Debian suites and for the security suite.
type Mirror struct {
	Debian   string `yaml:"debian"`   // e.g. an internal mirror or a snapshot URL
	Security string `yaml:"security"` // the -security suite; defaults to Debian when empty
}

// Kernel chooses the kernel and what the initrd carries. The kernel is either an archive
// package (Package) or a kernel package file (Deb): exactly one of them.
type Kernel struct {
	Package string `yaml:"package"` // linux-image-amd64: the newest the suites offer
	// Deb is a custom kernel image package instead of Package: a linux-image-* .deb whose
	// dependencies come from the suites.
	Deb *KernelDeb `yaml:"deb,omitempty"`
	// Cmdline is the kernel command line (besides what the build adds: root, verity hash).
	Cmdline []string `yaml:"cmdline"`
	// InitrdModules are the only kernel modules the initrd carries (with their dependencies).
	InitrdModules []string `yaml:"initrd_modules"`
}

// KernelDeb names a kernel package file and pins its content.
type KernelDeb struct {
	// Path is relative to the image definition, inside its directory.
	Path string `yaml:"path"`
	// SHA256 is the file's sha256 (sha256sum), checked before the build and when it is copied in.
	SHA256 string `yaml:"sha256"`

	pkg *DebPackage // what validation read of the file, for the plan
}

// RootFS is the read-only root filesystem image.
type RootFS struct {
	Type        string `yaml:"type"`        // squashfs or erofs
	Compression string `yaml:"compression"` // squashfs: zstd (default), xz, gzip, lz4, lzo; erofs: lz4hc (default), lz4, none
	// Exclude lists paths (dpkg path-exclude globs) not installed, such as documentation.
	Exclude []string `yaml:"exclude"`
	// Include re-includes paths under an exclude (dpkg path-include globs), such as copyright files.
	Include []string `yaml:"include"`
}

// Disk is the partition layout. Sizes are strings with a unit: 64MiB, 1GiB.
type Disk struct {
	ESPSize  string `yaml:"esp_size"`
	RootSize string `yaml:"root_size"` // per slot; the image has slots A and B
	// VeritySize is the size of each slot's verity hash partition; default RootSize/64.
	VeritySize string `yaml:"verity_size"`
	// StateMinSize is left unpartitioned at the end of the image, so that first boot can
	// create the state partition even on a disk that was not grown.
	StateMinSize string `yaml:"state_min_size"`
}

// Profile is a role profile (profiles/*.yaml): what a role adds to the base.
type Profile struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Include names profiles (paths relative to this file) applied before this one.
	Include  []string `yaml:"include"`
	Packages []string `yaml:"packages"`
	Files    []File   `yaml:"files"`
	Services Services `yaml:"services"`
	// Cmdline adds kernel command line arguments.
	Cmdline []string `yaml:"cmdline"`
	// Firewall, when set, makes inbound traffic default-deny (nftables) but for these ports.
	// Ports of every profile applied add up.
	Firewall *Firewall `yaml:"firewall,omitempty"`
	// Audit is what `mantlet audit` holds the built image to.
	Audit *Audit `yaml:"audit,omitempty"`
	// Docker, when set, installs the Docker daemon (docker.io) locked down: see Docker.
	Docker *Docker `yaml:"docker,omitempty"`
}

// Firewall lists the inbound ports a role opens; everything else inbound is dropped.
type Firewall struct {
	TCP []int `yaml:"tcp"`
	UDP []int `yaml:"udp"`
}

// Audit sets the CIS benchmark thresholds and waivers of `mantlet audit`. A later profile's
// non-zero threshold replaces an earlier one's; waiver files of every profile add up.
type Audit struct {
	// CISLevel1Min and CISLevel2Min are the least scores, in percent of the applicable rules
	// (pass / (pass + fail + error + unknown)), of the CIS Level 1 and Level 2 server profiles.
	CISLevel1Min int `yaml:"cis_level1_min"`
	CISLevel2Min int `yaml:"cis_level2_min"`
	// Waivers is a YAML file relative to the profile: a list of {rule, reason}.
	Waivers string `yaml:"waivers"`
}

// Docker configures the Docker daemon. What the build renders from it (daemon.json, a drop-in
// of docker.service, the containers' slice) always has icc off, no-new-privileges,
// live-restore, no userland proxy, limited container logs and no insecure registries; these
// fields set what a role may choose. A later profile's field replaces an earlier one's.
type Docker struct {
	// TCP, when set, makes dockerd listen on TCP besides its unix socket, with TLS and client
	// certificates verified against the cluster CA (the node certificates of `mantlet
	// ignition`). Absent: the unix socket only. A later profile cannot take it away.
	TCP *DockerTCP `yaml:"tcp,omitempty"`
	// UsernsRemap runs containers in a user namespace (userns-remap "default", the dockremap
	// user the build makes); unset means true. false needs UsernsRemapOptOutReason.
	UsernsRemap *bool `yaml:"userns_remap,omitempty"`
	// UsernsRemapOptOutReason says why this role's containers run without user namespaces;
	// the audit prints it.
	UsernsRemapOptOutReason string `yaml:"userns_remap_optout_reason"`
	// ContainersMemoryMax is the MemoryMax of the slice every container runs in: a size
	// (4GiB, 512MiB) or a percentage of the machine's memory (75%). Some profile must set it.
	ContainersMemoryMax string `yaml:"containers_memory_max"`
	// LogMaxSize is the size at which a container's log is rotated (default 10MiB).
	LogMaxSize string `yaml:"log_max_size"`
	// LogMaxFiles is how many log files a container keeps (default 3).
	LogMaxFiles int `yaml:"log_max_files"`
}

// DockerTCP is the TCP listener of dockerd.
type DockerTCP struct {
	// Port defaults to 2376, Docker's TLS port.
	Port int `yaml:"port"`
	// TLS must be true: dockerd never listens on TCP without TLS verification.
	TLS *bool `yaml:"tls"`
}

// File is one file the profile places in the image.
type File struct {
	Path string `yaml:"path"` // absolute path in the image
	// Mode is octal, as a string ("0644") so that YAML does not read it as decimal.
	Mode    string `yaml:"mode"`
	Owner   string `yaml:"owner"` // user:group, default root:root
	Content string `yaml:"content"`
	// Source is a file relative to the profile, instead of Content.
	Source string `yaml:"source"`
}

// Services enables, disables and masks systemd units in the image.
type Services struct {
	Enable  []string `yaml:"enable"`
	Disable []string `yaml:"disable"`
	Mask    []string `yaml:"mask"`
}

// Plan is an image definition and its profiles merged, with every default filled in and every
// size parsed: what the build executes. Golden tests pin it down.
type Plan struct {
	Name            string
	Release         string
	Architecture    string
	Sources         []Source // apt sources, one per suite, in order
	SourceDateEpoch int64
	KernelPackage   string         // kernel.package, or the package in kernel.deb
	KernelDeb       *PlanKernelDeb // the custom kernel package file; nil: the suites' kernel
	Cmdline         []string       // image then profiles, in order
	InitrdModules   []string
	Packages        []string // sorted, unique: image, then profiles
	RootFSType      string
	Compression     string
	Exclude         []string
	Include         []string
	ESPSize         int64 // bytes
	RootSize        int64
	VeritySize      int64
	StateMinSize    int64
	Formats         []string
	Files           []PlanFile // in order of application; later ones replace earlier ones
	Enable          []string
	Disable         []string
	Mask            []string
	Profiles        []string // names of the profiles applied, in order
	// Firewall is nil when no profile declares one: then no nftables.conf is rendered.
	Firewall *Firewall // ports sorted, unique
	Audit    PlanAudit
	// Docker is nil when no profile has a docker section: then Docker is not installed.
	Docker *PlanDocker
	// ImageDigest is the sha256 of the image definition and every profile file, as read.
	ImageDigest string
}

// PlanKernelDeb is a custom kernel package file, checked: what its control file says and the
// kernel release (uname -r) of the one /boot/vmlinuz-* it ships.
type PlanKernelDeb struct {
	Path         string // as written in the image definition, relative to it
	File         string `json:"-"` // where it is on this machine
	SHA256       string
	Package      string
	Version      string
	Architecture string
	Release      string // uname -r
}

// PlanAudit is the merged audit section of the profiles.
type PlanAudit struct {
	CISLevel1Min int
	CISLevel2Min int
	Waivers      []WaiverFile // in order of application
}

// PlanDocker is the merged docker section of the profiles, defaults filled in: what the
// rendered daemon.json, docker.service drop-in and containers' slice say.
type PlanDocker struct {
	// TCPPort is the port dockerd listens on, with TLS verification; 0: the unix socket only.
	TCPPort int
	// UsernsRemap is userns-remap "default"; when false, UsernsRemapOptOutReason says why.
	UsernsRemap             bool
	UsernsRemapOptOutReason string `json:",omitempty"`
	// ContainersMemoryMax is the slice's MemoryMax as systemd reads it: 4G, 512M, 75%.
	ContainersMemoryMax string
	LogMaxSize          int64 // bytes
	LogMaxFiles         int
}

// WaiverFile is one profile's waiver file.
type WaiverFile struct {
	Profile string // the profile's name
	Source  string // as written in the profile, relative to it
	Path    string `json:"-"` // where it is on this machine
}

// Source is one apt source line: deb URI suite components...
type Source struct {
	URI        string
	Suite      string
	Components []string
}

// PlanFile is a profile file with its content resolved.
type PlanFile struct {
	Path  string
	Mode  fs.FileMode
	Owner string // user:group
	Data  []byte
}
