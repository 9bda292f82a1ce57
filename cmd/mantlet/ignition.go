package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mantlet/mantlet/internal/creds"
	"github.com/mantlet/mantlet/internal/nodeconfig"
)

type ignitionOptions struct {
	dir, node, merge, output string
	keys                     keyOptions
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
(.bu/.yaml: variant fcos, version 1.5.0, everything inline).`,
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
	var extra []byte
	if o.merge != "" {
		var err error
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
