package qemu

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mantlet/mantlet/internal/nodeconfig"
	"github.com/mantlet/mantlet/internal/spec"
)

// Defaults of a cluster's nodes: four of them fit in 8 GiB with the harness.
const (
	DefaultNodeMemoryMiB = 1536
	DefaultNodeCPUs      = 1
	MinNodeMemoryMiB     = 512
	MaxNodeCPUs          = 64
	// DefaultClusterTBSizeMiB is each node's TCG translation cache: QEMU's 1 GiB default
	// would let four TCG nodes take 4 GiB beyond their memory.
	DefaultClusterTBSizeMiB = 256
)

// Ways to start a cluster's nodes.
const (
	StartParallel = "parallel" // all at once (the default)
	StartOrdered  = "ordered"  // in the file's order, each once the one before has booted
)

// ClusterFile is a cluster description as written: cluster.yaml.
type ClusterFile struct {
	// Name names the cluster in logs and directories; default: the file's name.
	Name    string         `yaml:"name"`
	Network ClusterNetwork `yaml:"network"`
	// Start is parallel (default) or ordered.
	Start string     `yaml:"start"`
	SSH   ClusterSSH `yaml:"ssh"`
	// Defaults apply to every node that does not set the field itself.
	Defaults NodeDefaults `yaml:"defaults"`
	Nodes    []NodeFile   `yaml:"nodes"`
}

// ClusterNetwork is the cluster's private segment.
type ClusterNetwork struct {
	// CIDR is the segment's network. Node addresses come from their Ignition configs
	// (mantlet ignition --network static) and must lie inside it.
	CIDR string `yaml:"cidr"`
}

// ClusterSSH is what --ssh-config writes for each node.
type ClusterSSH struct {
	User         string `yaml:"user"`          // default admin
	IdentityFile string `yaml:"identity_file"` // optional private key, relative to the file
}

// NodeDefaults are the node fields a cluster file may set once for all nodes.
type NodeDefaults struct {
	Image     string `yaml:"image"`
	MemoryMiB int    `yaml:"memory_mib"`
	CPUs      int    `yaml:"cpus"`
}

// NodeFile is one node as written.
type NodeFile struct {
	Name      string     `yaml:"name"`
	Image     string     `yaml:"image"`    // qcow2 or raw, relative to the file
	Ignition  string     `yaml:"ignition"` // the node's Ignition config, relative to the file
	MemoryMiB int        `yaml:"memory_mib"`
	CPUs      int        `yaml:"cpus"`
	Ports     []PortFile `yaml:"ports"`
}

// PortFile is a named service port of a node forwarded to 127.0.0.1.
type PortFile struct {
	Name  string `yaml:"name"`
	Guest int    `yaml:"guest"` // the node's TCP port
	Host  int    `yaml:"host"`  // the port on 127.0.0.1; 0 or unset: a free one
}

// ClusterSpec is a validated cluster: paths absolute, defaults filled in.
type ClusterSpec struct {
	Name        string
	File        string // the cluster file, "" when built in code
	CIDR        netip.Prefix
	Start       string
	SSHUser     string
	SSHIdentity string // absolute, "" for none
	Nodes       []NodeSpec
}

// NodeSpec is one validated node.
type NodeSpec struct {
	Name      string
	Image     string
	Ignition  string
	MemoryMiB int
	CPUs      int
	Ports     []NamedPort
	// Address is the node's static address on the segment, read from its Ignition config;
	// not valid when the config sets none (the node's own files configure it).
	Address netip.Prefix
}

// NamedPort is a forwarded service port.
type NamedPort struct {
	Name  string
	Guest int
	Host  int
}

var (
	nodeNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	userNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

// LoadClusterFile reads and validates a cluster file. Paths in it are relative to its
// directory. The error lists every problem, each with its line and field (a spec.Errors).
func LoadClusterFile(path string) (*ClusterSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cluster file: %w", err)
	}
	return ParseClusterFile(path, data)
}

// ParseClusterFile validates the cluster file data read from path.
func ParseClusterFile(path string, data []byte) (*ClusterSpec, error) {
	var f ClusterFile
	pos, errs := spec.DecodeFile(path, data, &f)
	if pos == nil {
		return nil, errs
	}
	v := clusterValidator{pos: pos, dir: filepath.Dir(path)}
	cs := v.validate(&f, path)
	if err := spec.MergeShape(errs, v.errs).Err(); err != nil {
		return nil, err
	}
	return cs, nil
}

type clusterValidator struct {
	pos  *spec.Positions
	dir  string
	errs spec.Errors
}

func (v *clusterValidator) errorf(path, format string, a ...any) {
	v.errs = append(v.errs, spec.FieldError{File: v.pos.File, Line: v.pos.Line(path), Path: path, Msg: fmt.Sprintf(format, a...)})
}

func (v *clusterValidator) validate(f *ClusterFile, file string) *ClusterSpec {
	cs := &ClusterSpec{Name: f.Name, File: file, Start: f.Start, SSHUser: f.SSH.User}
	if cs.Name == "" {
		cs.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		if !nodeNameRE.MatchString(cs.Name) {
			v.errorf("name", "not set, and the file's name %q is no cluster name: set name (lower-case letters, digits, inner dashes)", cs.Name)
		}
	} else if !nodeNameRE.MatchString(cs.Name) {
		v.errorf("name", "%q: want lower-case letters, digits and inner dashes, at most 63", cs.Name)
	}
	switch {
	case f.Network.CIDR == "":
		v.errorf("network.cidr", "not set: give the segment's network, such as 10.88.0.0/24")
	default:
		p, err := netip.ParsePrefix(f.Network.CIDR)
		switch {
		case err != nil:
			v.errorf("network.cidr", "%q: want a network such as 10.88.0.0/24", f.Network.CIDR)
		case p != p.Masked():
			v.errorf("network.cidr", "%s: not a network address (did you mean %s?)", p, p.Masked())
		default:
			cs.CIDR = p
		}
	}
	switch cs.Start {
	case "":
		cs.Start = StartParallel
	case StartParallel, StartOrdered:
	default:
		v.errorf("start", "%q: want %s or %s", f.Start, StartParallel, StartOrdered)
	}
	if cs.SSHUser == "" {
		cs.SSHUser = "admin"
	} else if !userNameRE.MatchString(cs.SSHUser) {
		v.errorf("ssh.user", "%q: not a user name", cs.SSHUser)
	}
	if f.SSH.IdentityFile != "" {
		cs.SSHIdentity = v.file("ssh.identity_file", f.SSH.IdentityFile)
	}
	defImage := ""
	if f.Defaults.Image != "" {
		defImage = v.file("defaults.image", f.Defaults.Image)
	}
	v.resources("defaults", f.Defaults.MemoryMiB, f.Defaults.CPUs)
	if len(f.Nodes) == 0 {
		v.errorf("nodes", "no nodes: list at least one")
	}
	names := map[string]string{}
	hostPorts := map[int]string{}
	addrs := map[netip.Addr]string{}
	for i, nf := range f.Nodes {
		p := fmt.Sprintf("nodes[%d]", i)
		n := v.node(p, nf, f.Defaults, defImage, cs.CIDR)
		if first, dup := names[n.Name]; dup && n.Name != "" {
			v.errorf(p+".name", "%q is taken by %s", n.Name, first)
		} else {
			names[n.Name] = p
		}
		for j, port := range n.Ports {
			if first, dup := hostPorts[port.Host]; dup && port.Host != 0 {
				v.errorf(fmt.Sprintf("%s.ports[%d].host", p, j), "%d is taken by %s", port.Host, first)
			} else {
				hostPorts[port.Host] = fmt.Sprintf("%s.ports[%d]", p, j)
			}
		}
		if n.Address.IsValid() {
			if first, dup := addrs[n.Address.Addr()]; dup {
				v.errorf(p+".ignition", "address %s is taken by %s", n.Address.Addr(), first)
			} else {
				addrs[n.Address.Addr()] = p
			}
		}
		cs.Nodes = append(cs.Nodes, n)
	}
	return cs
}

// node validates one node; defImage is defaults.image resolved ("" when unset or wrong).
func (v *clusterValidator) node(p string, nf NodeFile, d NodeDefaults, defImage string, cidr netip.Prefix) NodeSpec {
	n := NodeSpec{Name: nf.Name, MemoryMiB: nf.MemoryMiB, CPUs: nf.CPUs}
	if n.Name == "" {
		v.errorf(p+".name", "not set")
	} else if !nodeNameRE.MatchString(n.Name) {
		v.errorf(p+".name", "%q: want lower-case letters, digits and inner dashes, at most 63 (it is a host name in the ssh config)", n.Name)
	}
	switch {
	case nf.Image != "":
		n.Image = v.file(p+".image", nf.Image)
	case d.Image != "":
		n.Image = defImage // its problem, if any, is reported once, at defaults.image
	default:
		v.errorf(p+".image", "not set, and no defaults.image")
	}
	if nf.Ignition == "" {
		v.errorf(p+".ignition", "not set: every node boots with its Ignition config (mantlet ignition)")
	} else if n.Ignition = v.file(p+".ignition", nf.Ignition); n.Ignition != "" {
		n.Address = v.address(p+".ignition", n.Ignition, cidr)
	}
	if n.MemoryMiB == 0 {
		n.MemoryMiB = cmp.Or(d.MemoryMiB, DefaultNodeMemoryMiB)
	}
	if n.CPUs == 0 {
		n.CPUs = cmp.Or(d.CPUs, DefaultNodeCPUs)
	}
	v.resources(p, nf.MemoryMiB, nf.CPUs)
	names := map[string]bool{}
	guests := map[int]bool{}
	for j, pf := range nf.Ports {
		pp := fmt.Sprintf("%s.ports[%d]", p, j)
		switch {
		case pf.Name == "":
			v.errorf(pp+".name", "not set")
		case !nodeNameRE.MatchString(pf.Name):
			v.errorf(pp+".name", "%q: want lower-case letters, digits and inner dashes", pf.Name)
		case names[pf.Name] || pf.Name == "ssh":
			v.errorf(pp+".name", "%q is taken (ssh is always forwarded)", pf.Name)
		}
		names[pf.Name] = true
		switch {
		case pf.Guest <= 0 || pf.Guest > 65535:
			v.errorf(pp+".guest", "%d: want a TCP port, 1 to 65535", pf.Guest)
		case pf.Guest == 22:
			v.errorf(pp+".guest", "22 is forwarded already (the node's SSH port)")
		case guests[pf.Guest]:
			v.errorf(pp+".guest", "%d is forwarded twice", pf.Guest)
		}
		guests[pf.Guest] = true
		if pf.Host != 0 && (pf.Host < 1024 || pf.Host > 65535) {
			v.errorf(pp+".host", "%d: want 0 (a free port) or 1024 to 65535", pf.Host)
		}
		n.Ports = append(n.Ports, NamedPort(pf))
	}
	return n
}

func (v *clusterValidator) resources(p string, mem, cpus int) {
	if mem != 0 && mem < MinNodeMemoryMiB {
		v.errorf(p+".memory_mib", "%d: want at least %d (MiB)", mem, MinNodeMemoryMiB)
	}
	if cpus < 0 || cpus > MaxNodeCPUs {
		v.errorf(p+".cpus", "%d: want 1 to %d", cpus, MaxNodeCPUs)
	}
}

// file resolves a path of the file and checks that it names a readable regular file.
func (v *clusterValidator) file(field, path string) string {
	if !filepath.IsAbs(path) {
		path = filepath.Join(v.dir, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		v.errorf(field, "%v", err)
		return ""
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		v.errorf(field, "%s: %v", abs, unwrapPathError(err))
		return ""
	case !fi.Mode().IsRegular():
		v.errorf(field, "%s: not a regular file", abs)
		return ""
	}
	return abs
}

// address reads the node's static address out of its Ignition config.
func (v *clusterValidator) address(field, ign string, cidr netip.Prefix) netip.Prefix {
	raw, err := os.ReadFile(ign)
	if err != nil {
		v.errorf(field, "%v", err)
		return netip.Prefix{}
	}
	addr, ok, err := nodeconfig.ClusterAddress(raw)
	switch {
	case err != nil:
		v.errorf(field, "%s: %v", ign, err)
	case !ok:
		// The node configures the segment itself (or not at all): nothing to check.
	case cidr.IsValid() && (!cidr.Contains(addr.Addr()) || addr.Bits() != cidr.Bits()):
		v.errorf(field, "%s gives the node %s, outside network.cidr %s (write it with mantlet ignition --network static --cidr %s)", ign, addr, cidr, cidr)
	default:
		return addr
	}
	return netip.Prefix{}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
