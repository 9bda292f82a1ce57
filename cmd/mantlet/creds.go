package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mantlet/mantlet/internal/creds"
	"github.com/mantlet/mantlet/internal/pki"
)

// keyOptions say how to open a store: MANTLET_PASSPHRASE, an age identity file, or a prompt.
type keyOptions struct {
	identity string
}

func (k *keyOptions) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.identity, "identity", "", "age identity file, for stores encrypted to recipients (default: passphrase from $MANTLET_PASSPHRASE or a prompt)")
}

// keys returns what opens the store; confirm asks twice when prompting for a new passphrase.
func (k *keyOptions) keys(needPassphrase, confirm bool) (creds.Keys, error) {
	if k.identity != "" {
		ids, err := creds.ReadIdentities(k.identity)
		return creds.Keys{Identities: ids}, err
	}
	if !needPassphrase {
		return creds.Keys{}, nil
	}
	if p := os.Getenv("MANTLET_PASSPHRASE"); p != "" {
		return creds.Keys{Passphrase: p}, nil
	}
	p, err := promptPassphrase("passphrase: ")
	if err != nil {
		return creds.Keys{}, err
	}
	if confirm {
		again, err := promptPassphrase("passphrase again: ")
		if err != nil {
			return creds.Keys{}, err
		}
		if again != p {
			return creds.Keys{}, errors.New("the passphrases differ")
		}
	}
	return creds.Keys{Passphrase: p}, nil
}

// ttyPath is the terminal prompts are asked on, whatever stdin and stdout are; tests point
// it at a pseudo-terminal of their own.
var ttyPath = "/dev/tty"

// promptPassphrase reads a line from the terminal with echo off (golang.org/x/term, which
// puts the terminal's state back afterwards).
func promptPassphrase(prompt string) (string, error) {
	tty, err := os.OpenFile(ttyPath, os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("%w (and no terminal to ask on)", creds.ErrNoKeys)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	if !term.IsTerminal(fd) {
		return "", fmt.Errorf("%w (and no terminal to ask on)", creds.ErrNoKeys)
	}
	fmt.Fprint(tty, prompt)
	line, err := term.ReadPassword(fd)
	fmt.Fprintln(tty)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	p := strings.TrimRight(string(line), "\r")
	if p == "" {
		return "", errors.New("empty passphrase")
	}
	return p, nil
}

func newCredsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:          "creds",
		Short:        "Create, issue, show and rotate a cluster's credentials (CA, node certificates, every secret)",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
	}
	cmd.AddCommand(newCredsInitCmd(), newCredsIssueCmd(), newCredsShowCmd(), newCredsRotateCmd())
	return cmd
}

type credsInitOptions struct {
	dir, name, datacenter, domain, keyType string
	recipients, permitDNS, permitIPs       []string
	keys                                   keyOptions
}

func newCredsInitCmd() *cobra.Command {
	o := &credsInitOptions{}
	cmd := &cobra.Command{
		Use:          "init",
		Short:        "Make a new store: a cluster CA and every cluster secret, encrypted",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCredsInit(o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "store directory (new or empty)")
	f.StringVar(&o.name, "name", "", "cluster name")
	f.StringVar(&o.datacenter, "datacenter", "", "Consul datacenter")
	f.StringVar(&o.domain, "domain", "consul", "Consul domain")
	f.StringVar(&o.keyType, "key-type", string(pki.ECDSAP256), fmt.Sprintf("CA key type: %v", pki.KeyTypes))
	f.StringArrayVar(&o.recipients, "recipient", nil, "age public key (age1...) to encrypt to instead of a passphrase; repeat for several operators")
	f.StringArrayVar(&o.permitDNS, "permit-dns", nil, "a DNS domain the CA may sign names in (with its subdomains) besides the Consul domain and localhost, for issue --dns; repeat for several")
	f.StringArrayVar(&o.permitIPs, "permit-ip", nil, fmt.Sprintf("an address range (CIDR) of the nodes the CA may sign; repeat for several (default: %s)", strings.Join(pki.DefaultIPRanges, ", ")))
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("datacenter")
	return cmd
}

func runCredsInit(o *credsInitOptions, stdout io.Writer) error {
	var keys creds.Keys
	if len(o.recipients) == 0 {
		var err error
		if keys, err = o.keys.keys(true, true); err != nil {
			return err
		}
	}
	s, err := creds.Init(o.dir, creds.InitOptions{
		Cluster: o.name, Datacenter: o.datacenter, Domain: o.domain, KeyType: pki.KeyType(o.keyType),
		Recipients: o.recipients, PermitDNS: o.permitDNS, PermitIPs: o.permitIPs, Now: time.Now(),
	}, keys)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "store %s: cluster %s, CA %s\n", o.dir, s.Manifest.Cluster, s.Manifest.CAs[0].Fingerprint)
	return nil
}

type credsIssueOptions struct {
	dir, node, role string
	ips, dns        []string
	days            int
	keys            keyOptions
}

func newCredsIssueCmd() *cobra.Command {
	o := &credsIssueOptions{}
	cmd := &cobra.Command{
		Use:          "issue",
		Short:        "Issue a node: a fresh key and a certificate from the cluster CA",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCredsIssue(o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "store directory")
	f.StringVar(&o.node, "node", "", "node name (a DNS label)")
	f.StringVar(&o.role, "role", "", "node role: "+strings.Join(creds.Roles, ", "))
	f.StringSliceVar(&o.ips, "ip", nil, "node IP address (repeat or comma-separate; the first is its cluster address)")
	f.StringSliceVar(&o.dns, "dns", nil, "extra DNS name for the certificate")
	f.IntVar(&o.days, "days", 90, "certificate lifetime in days")
	o.keys.flags(cmd)
	for _, r := range []string{"dir", "node", "role", "ip"} {
		_ = cmd.MarkFlagRequired(r)
	}
	return cmd
}

func runCredsIssue(o *credsIssueOptions, stdout io.Writer) error {
	req := creds.IssueRequest{Node: o.node, Role: o.role, IPs: o.ips, DNS: o.dns, Validity: time.Duration(o.days) * 24 * time.Hour, Now: time.Now()}
	if o.days <= 0 {
		return fmt.Errorf("%w: --days must be positive", creds.ErrInvalid)
	}
	if err := req.Check(); err != nil { // before asking for a passphrase
		return err
	}
	m, err := creds.ReadManifest(o.dir)
	if err != nil {
		return err
	}
	keys, err := o.keys.keys(len(m.Recipients) == 0, false)
	if err != nil {
		return err
	}
	var n creds.Node
	err = creds.Change(o.dir, keys, func(s *creds.Store) error {
		if err := s.Issue(req); err != nil {
			return err
		}
		n, _ = s.Node(o.node)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "node %s (%s): certificate %s, serial %s, expires %s\n", n.Name, n.Role, n.Fingerprint, n.Serial, n.NotAfter.Format(time.DateOnly))
	return nil
}

type credsShowOptions struct {
	dir    string
	reveal bool
	json   bool
	keys   keyOptions
}

func newCredsShowCmd() *cobra.Command {
	o := &credsShowOptions{}
	cmd := &cobra.Command{
		Use:          "show",
		Short:        "Show what a store holds: CAs, nodes, fingerprints, expiry; secret values only with --reveal",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCredsShow(o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "store directory")
	cmd.Flags().BoolVar(&o.reveal, "reveal", false, "also print every secret value (not the private keys)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the public part as JSON (schema "+creds.ShowJSONSchema+"); not with --reveal")
	cmd.MarkFlagsMutuallyExclusive("json", "reveal")
	o.keys.flags(cmd)
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runCredsShow(o *credsShowOptions, stdout io.Writer) error {
	m, err := creds.ReadManifest(o.dir)
	if err != nil {
		return err
	}
	if o.json {
		return creds.ShowJSON(stdout, m, time.Now())
	}
	if !o.reveal {
		return creds.Show(stdout, m, time.Now())
	}
	keys, err := o.keys.keys(len(m.Recipients) == 0, false)
	if err != nil {
		return err
	}
	s, err := creds.Open(o.dir, keys)
	if err != nil {
		return err
	}
	if err := creds.Show(stdout, s.Manifest, time.Now()); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	return creds.Reveal(stdout, s.Secrets)
}

type credsRotateOptions struct {
	dir  string
	keys keyOptions
}

func newCredsRotateCmd() *cobra.Command {
	o := &credsRotateOptions{}
	var kinds []string
	for _, k := range creds.Kinds {
		kinds = append(kinds, string(k))
	}
	cmd := &cobra.Command{
		Use:          "rotate KIND",
		Short:        "Replace one kind of secret (" + strings.Join(kinds, "|") + ") and list the nodes that need a new config",
		SilenceUsage: true,
		Args:         cobra.ExactArgs(1),
		ValidArgs:    kinds,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCredsRotate(o, creds.Kind(args[0]), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "store directory")
	o.keys.flags(cmd)
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runCredsRotate(o *credsRotateOptions, kind creds.Kind, stdout io.Writer) error {
	known := false
	for _, k := range creds.Kinds {
		known = known || k == kind
	}
	if !known {
		return fmt.Errorf("%w %q (want one of %v)", creds.ErrKind, kind, creds.Kinds)
	}
	m, err := creds.ReadManifest(o.dir)
	if err != nil {
		return err
	}
	keys, err := o.keys.keys(len(m.Recipients) == 0, false)
	if err != nil {
		return err
	}
	var nodes []string
	err = creds.Change(o.dir, keys, func(s *creds.Store) error {
		var err error
		nodes, err = s.Rotate(kind, time.Now())
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotated %s\n", kind)
	for _, n := range nodes {
		fmt.Fprintf(stdout, "needs a new config: %s\n", n)
	}
	return nil
}
