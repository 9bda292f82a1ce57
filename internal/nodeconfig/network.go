package nodeconfig

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6"

	"github.com/mantlet/mantlet/firstboot/resource"
)

// NetworkPath is the systemd-networkd file of the cluster interface that a static network
// writes. 10- sorts before the base profile's 80-dhcp.network, so networkd gives the cluster
// interface this file and every other wired interface DHCP.
const NetworkPath = "/etc/systemd/network/10-mantlet-cluster.network"

// How a node's cluster interface gets its address.
const (
	// NetworkDHCP leaves the interface to the image's DHCP file: clouds, where the
	// provider hands out the address the certificate carries.
	NetworkDHCP = "dhcp"
	// NetworkStatic writes NetworkPath with the node's address: metal and QEMU clusters.
	NetworkStatic = "static"
)

// Network says how the node's cluster interface is set up. The zero value is DHCP.
type Network struct {
	Mode string // NetworkDHCP ("" too) or NetworkStatic
	// Interface names the cluster interface: a name or a glob (enp0s4, eno*), or a MAC
	// address (52:54:00:6d:00:01).
	Interface string
	// Prefix is the cluster network; the node's address is its first certificate address
	// inside it.
	Prefix  netip.Prefix
	Gateway netip.Addr   // optional, inside Prefix
	DNS     []netip.Addr // optional
}

// ErrNetwork is wrapped by every problem of a Network.
var ErrNetwork = errors.New("network")

// address checks n against the node's certificate addresses and returns the node's address
// with the network's prefix length. Each problem names the flag that sets it.
func (n Network) address(node string, ips []string) (netip.Prefix, error) {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrNetwork}, a...)...))
	}
	if n.Interface == "" {
		bad("--interface: not set: name the cluster interface (enp0s4, a glob such as eno*, or a MAC address)")
	} else if strings.ContainsAny(n.Interface, " \t\n=[]") {
		bad("--interface %q: want an interface name, a glob or a MAC address", n.Interface)
	}
	if !n.Prefix.IsValid() {
		bad("--cidr: not set: give the cluster network, such as 10.88.0.0/24")
	} else if n.Prefix != n.Prefix.Masked() {
		bad("--cidr %s: not a network address (did you mean %s?)", n.Prefix, n.Prefix.Masked())
	}
	if n.Gateway.IsValid() && n.Prefix.IsValid() && !n.Prefix.Contains(n.Gateway) {
		bad("--gateway %s: outside --cidr %s", n.Gateway, n.Prefix)
	}
	if len(errs) > 0 {
		return netip.Prefix{}, errors.Join(errs...)
	}
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err == nil && n.Prefix.Contains(a) {
			return netip.PrefixFrom(a, n.Prefix.Bits()), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: node %s: none of its certificate's addresses %v is in --cidr %s (issue it with creds issue --ip ADDRESS in that network)", ErrNetwork, node, ips, n.Prefix)
}

// clusterNetwork is the network file of the node's config, nil for DHCP.
func clusterNetwork(in Input) (*file, error) {
	switch in.Network.Mode {
	case "", NetworkDHCP:
		return nil, nil
	case NetworkStatic:
	default:
		return nil, fmt.Errorf("%w: --network %q: want %s or %s", ErrNetwork, in.Network.Mode, NetworkDHCP, NetworkStatic)
	}
	addr, err := in.Network.address(in.Node.Name, in.Node.IPs)
	if err != nil {
		return nil, err
	}
	return &file{NetworkPath, 0o644, "", networkFile(in.Network, in.Node.Name, addr)}, nil
}

// networkFile renders the networkd file of a static cluster interface.
func networkFile(n Network, node string, addr netip.Prefix) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# mantlet ignition: the cluster interface of %s, its address static (the one its", node)
	w("# certificate carries). Every other wired interface keeps DHCP (80-dhcp.network).")
	w("[Match]")
	if mac, err := net.ParseMAC(n.Interface); err == nil {
		w("MACAddress=%s", mac)
	} else {
		w("Name=%s", n.Interface)
	}
	w("")
	w("[Link]")
	w("RequiredForOnline=yes")
	w("")
	w("[Network]")
	w("Address=%s", addr)
	if n.Gateway.IsValid() {
		w("Gateway=%s", n.Gateway)
	}
	for _, d := range n.DNS {
		w("DNS=%s", d)
	}
	w("DHCP=no")
	w("LinkLocalAddressing=no")
	w("IPv6AcceptRA=no")
	return b.String()
}

// ClusterAddress reads the node's static cluster address out of an Ignition config (any
// spec 3.x) that mantlet ignition wrote with a static network: the Address= of NetworkPath.
// ok is false when the config has no such file (the node takes its address by DHCP or from
// a file of its own).
func ClusterAddress(ign []byte) (addr netip.Prefix, ok bool, err error) {
	cfg, rep, err := v3_6.ParseCompatibleVersion(ign)
	if err != nil {
		return netip.Prefix{}, false, fmt.Errorf("not an Ignition config: %w", err)
	}
	if rep.IsFatal() {
		return netip.Prefix{}, false, fmt.Errorf("not a valid Ignition config: %s", rep.String())
	}
	for _, f := range cfg.Storage.Files {
		if path.Clean(f.Path) != NetworkPath {
			continue
		}
		if f.Contents.Source == nil || f.Contents.Compression != nil && *f.Contents.Compression != "" {
			return netip.Prefix{}, false, fmt.Errorf("%s: want inline, uncompressed contents", NetworkPath)
		}
		data, err := resource.DecodeDataURL(*f.Contents.Source)
		if err != nil {
			return netip.Prefix{}, false, fmt.Errorf("%s: %w", NetworkPath, err)
		}
		return parseAddress(string(data))
	}
	return netip.Prefix{}, false, nil
}

// parseAddress finds the one Address= of a networkd file's [Network] section.
func parseAddress(file string) (netip.Prefix, bool, error) {
	section := ""
	var found []netip.Prefix
	sc := bufio.NewScanner(strings.NewReader(file))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Network]":
			k, v, _ := strings.Cut(line, "=")
			if strings.TrimSpace(k) != "Address" {
				continue
			}
			p, err := netip.ParsePrefix(strings.TrimSpace(v))
			if err != nil {
				return netip.Prefix{}, false, fmt.Errorf("%s: Address=%s: %w", NetworkPath, v, err)
			}
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		return netip.Prefix{}, false, fmt.Errorf("%s: want one Address= in [Network], found %d", NetworkPath, len(found))
	}
	return found[0], true, nil
}
