package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mantlet/mantlet/internal/creds"
	"github.com/mantlet/mantlet/internal/nodeconfig"
)

type ignitionOptions struct {
	dir, node, merge, output string
	keys                     keyOptions
	network                  networkFlags
}

// networkFlags set how the node's cluster interface gets its address.
type networkFlags struct {
	mode, cidr, iface, gateway string
	dns                        []string
}

func (f *networkFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "network", nodeconfig.NetworkDHCP, "how the cluster interface gets its address: dhcp (clouds) or static (metal, QEMU clusters: the address of the node's certificate)")
	fl.StringVar(&f.cidr, "cidr", "", "with --network static: the cluster network, such as 10.88.0.0/24")
	fl.StringVar(&f.iface, "interface", "", "with --network static: the cluster interface, a name or glob (enp0s4 in mantlet qemu cluster) or a MAC address")
	fl.StringVar(&f.gateway, "gateway", "", "with --network static: optional default gateway, inside --cidr")
	fl.StringSliceVar(&f.dns, "dns", nil, "with --network static: optional DNS servers (repeat or separate with commas)")
}

// resolve checks the flags and names each one that is wrong.
func (f *networkFlags) resolve() (nodeconfig.Network, error) {
	n := nodeconfig.Network{Mode: f.mode, Interface: f.iface}
	var errs []error
	if f.mode != nodeconfig.NetworkStatic {
		for name, v := range map[string]string{"--cidr": f.cidr, "--interface": f.iface, "--gateway": f.gateway} {
			if v != "" {
				errs = append(errs, fmt.Errorf("%s: only with --network static", name))
			}
		}
		if len(f.dns) > 0 {
			errs = append(errs, errors.New("--dns: only with --network static"))
		}
		slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
		return n, errors.Join(errs...)
	}
	var err error
	if f.cidr != "" {
		if n.Prefix, err = netip.ParsePrefix(f.cidr); err != nil {
			errs = append(errs, fmt.Errorf("--cidr %q: want a network such as 10.88.0.0/24", f.cidr))
		}
	}
	if f.gateway != "" {
		if n.Gateway, err = netip.ParseAddr(f.gateway); err != nil {
			errs = append(errs, fmt.Errorf("--gateway %q: not an IP address", f.gateway))
		}
	}
	for _, d := range f.dns {
		a, err := netip.ParseAddr(d)
		if err != nil {
			errs = append(errs, fmt.Errorf("--dns %q: not an IP address", d))
		}
		n.DNS = append(n.DNS, a)
	}
	return n, errors.Join(errs...)
}

func newIgnitionCmd() *cobra.Command {
	o := &ignitionOptions{}
	cmd := &cobra.Command{
		Use:   "ignition",
		Short: "Write a node's Ignition config: its share of the cluster credentials, for mantlet-firstboot",
		Long: `Write a node's Ignition config (spec 3.5): its certificate and key, the CA bundle, and the
secrets its role needs, each with the owner and mode its component expects. The config is
checked with the Ignition config packages and the first-boot agent's parser before it is
written (0600, atomically). It holds secrets: it is never printed.

--merge folds in the operator's own Ignition config (JSON, spec 3.0 to 3.5) or Butane config
(.bu/.yaml: variant fcos, version 1.5.0, everything inline).

--network says how the node's cluster interface gets its address. dhcp (the default, for
clouds) writes nothing: the image asks for an address on every wired interface. static (metal,
and the QEMU harness's clusters) writes a systemd-networkd file for the --interface with the
node's certificate address inside --cidr (creds issue --ip), and no DHCP on it.`,
		Example: `  mantlet ignition --dir cluster/ --node wrk-1 -o wrk-1.ign
  mantlet ignition --dir cluster/ --node ctl-1 -o ctl-1.ign --network static --cidr 10.88.0.0/24 --interface enp0s4`,
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runIgnition(o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "store directory")
	f.StringVar(&o.node, "node", "", "node name")
	f.StringVar(&o.merge, "merge", "", "operator's Ignition config to fold in (.ign)")
	f.StringVarP(&o.output, "output", "o", "", "where to write the config (a file; never stdout)")
	o.network.add(cmd)
	o.keys.flags(cmd)
	for _, r := range []string{"dir", "node", "output"} {
		_ = cmd.MarkFlagRequired(r)
	}
	return cmd
}

func runIgnition(o *ignitionOptions, stdout io.Writer) error {
	if o.output == "-" || o.output == "/dev/stdout" {
		return errors.New("the config holds secrets: give -o a file, not stdout")
	}
	network, err := o.network.resolve()
	if err != nil {
		return err
	}
	var extra []byte
	if o.merge != "" {
		if extra, err = os.ReadFile(o.merge); err != nil {
			return fmt.Errorf("--merge: %w", err)
		}
		if nodeconfig.IsButane(o.merge) {
			if extra, err = nodeconfig.FromButane(extra); err != nil {
				return fmt.Errorf("--merge %s: %w", o.merge, err)
			}
		}
	}
	m, err := creds.ReadManifest(o.dir)
	if err != nil {
		return err
	}
	keys, err := o.keys.keys(len(m.Recipients) == 0, false)
	if err != nil {
		return err
	}
	s, err := creds.Open(o.dir, keys)
	if err != nil {
		return err
	}
	in, err := nodeconfig.FromStore(s, o.node)
	if err != nil {
		return err
	}
	in.Network = network
	out, err := nodeconfig.Generate(in, extra)
	if err != nil {
		return err
	}
	if err := creds.WriteFileAtomic(o.output, out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: Ignition config for %s (%s)\n", o.output, in.Node.Name, in.Node.Role)
	return nil
}
