package creds

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/mantlet/mantlet/internal/pki"
)

// Kind is a kind of secret that rotates as one.
type Kind string

const (
	KindGossip    Kind = "gossip"
	KindTokens    Kind = "tokens"
	KindNodeCerts Kind = "node-certs"
	KindCA        Kind = "ca"
	KindZooKeeper Kind = "zookeeper"
	KindMesos     Kind = "mesos"
	KindWeb       Kind = "web"
)

// Kinds are the kinds `rotate` takes, sorted.
var Kinds = []Kind{KindCA, KindGossip, KindMesos, KindNodeCerts, KindTokens, KindWeb, KindZooKeeper}

// Change opens the store in dir under its lock, calls fn, and saves the store if fn
// succeeded. When anything fails nothing on disk changes.
func Change(dir string, keys Keys, fn func(*Store) error) error {
	if _, err := ReadManifest(dir); err != nil {
		return err
	}
	unlock, err := lock(dir)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := Open(dir, keys)
	if err != nil {
		return err
	}
	if err := fn(s); err != nil {
		return err
	}
	return s.save()
}

// IssueRequest asks for a node.
type IssueRequest struct {
	Node     string
	Role     string
	IPs      []string
	DNS      []string
	Validity time.Duration // pki.NodeValidity when zero
	Now      time.Time
}

// Check returns every problem of the request at once.
func (r IssueRequest) Check() error {
	var errs []string
	if err := checkLabel("node", r.Node); err != nil {
		errs = append(errs, err.Error())
	}
	if !slices.Contains(Roles, r.Role) {
		errs = append(errs, fmt.Sprintf("%v %q (want one of %s)", ErrRole, r.Role, strings.Join(Roles, ", ")))
	}
	if len(r.IPs) == 0 {
		errs = append(errs, "at least one --ip is needed")
	}
	for _, ip := range r.IPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Sprintf("ip %q does not parse", ip))
		}
	}
	for _, d := range r.DNS {
		if err := checkDNSName("dns", d); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if r.Validity < 0 {
		errs = append(errs, "validity must be positive")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// Issue adds a node: a fresh key and a certificate from the active CA.
func (s *Store) Issue(r IssueRequest) error {
	if err := r.Check(); err != nil {
		return err
	}
	if _, ok := s.Node(r.Node); ok {
		return fmt.Errorf("%w: %s (rotate node-certs to renew it)", ErrNodeExists, r.Node)
	}
	n, key, err := s.issue(r.Node, r.Role, r.IPs, r.DNS, r.Validity, r.Now)
	if err != nil {
		return err
	}
	s.Manifest.Nodes = append(s.Manifest.Nodes, n)
	s.Secrets.NodeKeys[r.Node] = key
	return nil
}

func (s *Store) issue(name, role string, ips, dns []string, validity time.Duration, now time.Time) (Node, []byte, error) {
	var parsed []net.IP
	for _, ip := range ips {
		parsed = append(parsed, net.ParseIP(ip))
	}
	p, err := pki.Issue(s.signer(), pki.NodeRequest{
		Name: name, Control: role == RoleControl, IPs: parsed, DNS: dns,
		Datacenter: s.Manifest.Datacenter, Domain: s.Manifest.Domain, Now: now, Validity: validity,
	})
	if errors.Is(err, pki.ErrNotPermitted) {
		return Node{}, nil, fmt.Errorf("%w: issue %s: %w: use --dns names under the cluster's domains, node addresses in its ranges (creds show lists both; creds init --permit-dns and --permit-ip set them)", ErrInvalid, name, err)
	}
	if err != nil {
		return Node{}, nil, fmt.Errorf("issue %s: %w", name, err)
	}
	c, err := pki.ParseCert(p.CertPEM)
	if err != nil {
		return Node{}, nil, err
	}
	return Node{
		Name: name, Role: role, IPs: ips, DNS: dns, CertPEM: string(p.CertPEM),
		Serial: c.SerialNumber.Text(16), Fingerprint: pki.Fingerprint(c), NotAfter: c.NotAfter.UTC(), Issued: now.UTC(),
	}, p.KeyPEM, nil
}

// Rotate replaces every secret of one kind and returns the nodes that need a new config.
// Rotating the CA adds a new CA that signs from now on, keeps the old ones trusted (every
// node's ca.pem holds all of them), and re-issues every node certificate from the new one:
// nodes can then take their new config one by one, old and new certificates both verify.
func (s *Store) Rotate(kind Kind, now time.Time) ([]string, error) {
	switch kind {
	case KindCA:
		if err := s.addCA(now); err != nil {
			return nil, err
		}
		if err := s.reissueAll(now); err != nil {
			return nil, err
		}
	case KindNodeCerts:
		if err := s.reissueAll(now); err != nil {
			return nil, err
		}
	default:
		if err := s.Secrets.regenerate(kind); err != nil {
			return nil, err
		}
	}
	if s.Manifest.Rotated == nil {
		s.Manifest.Rotated = map[Kind]time.Time{}
	}
	s.Manifest.Rotated[kind] = now.UTC()
	// Every kind reaches every node: workers carry the agent's Mesos credential, the Mesos
	// ZooKeeper user, gossip, tokens, the CA and their certificate, and the web htpasswd.
	var names []string
	for _, n := range s.Manifest.Nodes {
		names = append(names, n.Name)
	}
	return names, nil
}

func (s *Store) reissueAll(now time.Time) error {
	for i, n := range s.Manifest.Nodes {
		validity := n.NotAfter.Sub(n.Issued) // keep each node's lifetime
		if validity <= 0 {
			validity = pki.NodeValidity
		}
		nn, key, err := s.issue(n.Name, n.Role, n.IPs, n.DNS, validity, now)
		if err != nil {
			return err
		}
		s.Manifest.Nodes[i] = nn
		s.Secrets.NodeKeys[n.Name] = key
	}
	return nil
}
