package nodeconfig

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func staticNetwork(iface string) Network {
	return Network{Mode: NetworkStatic, Interface: iface, Prefix: netip.MustParsePrefix("10.0.0.0/24")}
}

// The networkd file of a static cluster interface, matched by name and by MAC address.
func TestNetworkFileGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		net  Network
	}{
		{"network-name", staticNetwork("enp0s4")},
		{"network-mac", func() Network {
			n := staticNetwork("52:54:00:6D:00:01")
			n.Gateway = netip.MustParseAddr("10.0.0.1")
			n.DNS = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::53")}
			return n
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := fixed("control")
			in.Network = tc.net
			f, err := clusterNetwork(in)
			if err != nil {
				t.Fatal(err)
			}
			if f.path != NetworkPath || f.mode != 0o644 || f.group != "" {
				t.Errorf("file %s mode %o group %q, want %s 0644 root", f.path, f.mode, f.group, NetworkPath)
			}
			golden(t, tc.name, []byte(f.data))
		})
	}
}

// DHCP, the default, writes no network file: the image's 80-dhcp.network applies.
func TestNetworkDHCPWritesNothing(t *testing.T) {
	for _, mode := range []string{"", NetworkDHCP} {
		in := fixed("worker")
		in.Network = Network{Mode: mode}
		out, err := Generate(in, nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "systemd/network") {
			t.Errorf("mode %q: the config writes a network file", mode)
		}
		if _, ok, err := ClusterAddress(out); ok || err != nil {
			t.Errorf("mode %q: ClusterAddress = %v, %v; want none", mode, ok, err)
		}
	}
}

// Each bad network setting is refused with the flag that sets it.
func TestNetworkErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Network)
		want   []string
	}{
		{"unknown mode", func(n *Network) { n.Mode = "manual" }, []string{`--network "manual"`}},
		{"no interface", func(n *Network) { n.Interface = "" }, []string{"--interface: not set"}},
		{"bad interface", func(n *Network) { n.Interface = "en p0" }, []string{`--interface "en p0"`}},
		{"no cidr", func(n *Network) { n.Prefix = netip.Prefix{} }, []string{"--cidr: not set"}},
		{"host bits", func(n *Network) { n.Prefix = netip.MustParsePrefix("10.0.0.11/24") }, []string{"did you mean 10.0.0.0/24"}},
		{"gateway outside", func(n *Network) { n.Gateway = netip.MustParseAddr("10.9.0.1") }, []string{"--gateway 10.9.0.1: outside"}},
		{"node outside", func(n *Network) { n.Prefix = netip.MustParsePrefix("10.1.0.0/16") }, []string{"none of its certificate's addresses [10.0.0.11] is in --cidr 10.1.0.0/16"}},
		{"all at once", func(n *Network) { n.Interface, n.Prefix = "", netip.Prefix{} }, []string{"--interface", "--cidr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := fixed("control")
			in.Network = staticNetwork("enp0s4")
			tc.change(&in.Network)
			_, err := Generate(in, nil)
			if !errors.Is(err, ErrNetwork) {
				t.Fatalf("err = %v, want ErrNetwork", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// The harness reads back the address mantlet ignition wrote, from the whole config.
func TestClusterAddressRoundTrip(t *testing.T) {
	in := fixed("worker")
	in.Network = staticNetwork("enp0s4")
	out, err := Generate(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := ClusterAddress(out)
	if err != nil || !ok || got != netip.MustParsePrefix("10.0.0.21/24") {
		t.Fatalf("ClusterAddress = %v, %v, %v; want 10.0.0.21/24", got, ok, err)
	}
}

func TestClusterAddressErrors(t *testing.T) {
	for _, tc := range []struct {
		name, config, want string
	}{
		{"not json", `{`, "not an Ignition config"},
		{"two addresses", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/systemd/network/10-mantlet-cluster.network","contents":{"source":"data:,%5BNetwork%5D%0AAddress%3D10.0.0.1%2F24%0AAddress%3D10.0.0.2%2F24%0A"}}]}}`, "want one Address="},
		{"bad address", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/systemd/network/10-mantlet-cluster.network","contents":{"source":"data:,%5BNetwork%5D%0AAddress%3D10.0.0.300%2F24%0A"}}]}}`, "Address=10.0.0.300/24"},
		{"compressed", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/systemd/network/10-mantlet-cluster.network","contents":{"compression":"gzip","source":"data:;base64,H4sIAAAAAAAA/wMAAAAAAAAAAAA="}}]}}`, "uncompressed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ClusterAddress([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
