// Package creds keeps a cluster's credential store: the CA, the node certificates and every
// password, token and key the cluster's components share. Public material lies in the clear
// (manifest.json, ca.pem, nodes/NODE.pem); everything secret, and a sealed copy of the
// manifest, is in one age-encrypted file, secrets.age, whose rename commits every change.
package creds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mantlet/mantlet/internal/pki"
)

// Files of a store.
const (
	ManifestFile = "manifest.json"
	SecretsFile  = "secrets.age"
	CAFile       = "ca.pem"
	NodesDir     = "nodes"
	lockFile     = ".lock"
)

// Roles a node may have.
const (
	RoleControl = "control"
	RoleWorker  = "worker"
)

// Roles are the known roles, sorted.
var Roles = []string{RoleControl, RoleWorker}

// Manifest is the public description of a store.
type Manifest struct {
	Version    int    `json:"version"`
	Cluster    string `json:"cluster"`
	Datacenter string `json:"datacenter"`
	Domain     string `json:"domain"`
	KeyType    string `json:"ca_key_type"`
	// Recipients are the age public keys the secrets are encrypted to; none: a passphrase.
	Recipients []string `json:"recipients,omitempty"`
	// Permitted are the names the CA may sign (its name constraints), kept for the CAs a
	// rotation makes. Stores made before constraints existed have none: see permitted.
	Permitted *Permitted `json:"permitted,omitempty"`
	// CAs are trusted, oldest first; the last one signs. More than one during a rotation.
	CAs   []CA   `json:"cas"`
	Nodes []Node `json:"nodes"`
	// Rotated says when each kind of secret was last made, for renewal and audit.
	Rotated map[Kind]time.Time `json:"rotated"`
}

// Permitted are the DNS domains (with their subdomains) and address ranges (CIDR) a
// cluster CA may sign names in.
type Permitted struct {
	DNS []string `json:"dns"`
	IPs []string `json:"ips"`
}

// CA is one trusted CA certificate.
type CA struct {
	CertPEM     string    `json:"cert_pem"`
	Fingerprint string    `json:"fingerprint"`
	NotAfter    time.Time `json:"not_after"`
}

// Node is one issued node.
type Node struct {
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	IPs         []string  `json:"ips"`
	DNS         []string  `json:"dns,omitempty"`
	CertPEM     string    `json:"cert_pem"`
	Serial      string    `json:"serial"`
	Fingerprint string    `json:"fingerprint"`
	NotAfter    time.Time `json:"not_after"`
	Issued      time.Time `json:"issued"`
}

// sealed is what secrets.age holds.
type sealed struct {
	Manifest Manifest `json:"manifest"`
	Secrets  Secrets  `json:"secrets"`
}

// Store is an opened, decrypted store.
type Store struct {
	Dir      string
	Manifest Manifest
	Secrets  *Secrets
	keys     Keys
}

// InitOptions say what cluster a new store is for.
type InitOptions struct {
	Cluster    string
	Datacenter string
	Domain     string
	KeyType    pki.KeyType
	Recipients []string // age public keys; none: encrypt to Keys.Passphrase
	// PermitDNS are DNS domains the CA may sign names in besides the cluster domain and
	// localhost (for --dns names of nodes); PermitIPs the address ranges (CIDR) node
	// addresses are in, pki.DefaultIPRanges when none.
	PermitDNS []string
	PermitIPs []string
	Now       time.Time
}

// permitted is what the CA of a new store may sign: the cluster domain, localhost and
// the extra domains; the given address ranges (or the private ones), with loopback.
func (o InitOptions) permitted() Permitted {
	p := Permitted{DNS: []string{o.Domain, "localhost"}}
	for _, d := range o.PermitDNS {
		if d = strings.ToLower(d); !slices.Contains(p.DNS, d) {
			p.DNS = append(p.DNS, d)
		}
	}
	p.IPs = o.PermitIPs
	if len(p.IPs) == 0 {
		p.IPs = pki.DefaultIPRanges
	} else if !slices.Contains(p.IPs, "127.0.0.0/8") {
		p.IPs = append([]string{"127.0.0.0/8"}, p.IPs...) // every node certificate has 127.0.0.1
	}
	return p
}

var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func checkLabel(field, v string) error {
	if !labelRE.MatchString(v) {
		return fmt.Errorf("%w: %s %q: want lower-case letters, digits and inner dashes, at most 63", ErrInvalid, field, v)
	}
	return nil
}

func checkDNSName(field, v string) error {
	for _, l := range strings.Split(v, ".") {
		if err := checkLabel(field, l); err != nil {
			return fmt.Errorf("%w: %s %q is not a DNS name", ErrInvalid, field, v)
		}
	}
	return nil
}

// Init makes a new store in dir (created 0700, or an existing empty directory) with a CA
// and every cluster secret.
func Init(dir string, o InitOptions, keys Keys) (*Store, error) {
	var errs []error
	errs = append(errs, checkLabel("cluster name", o.Cluster), checkLabel("datacenter", o.Datacenter), checkDNSName("domain", o.Domain))
	if !slices.Contains(pki.KeyTypes, o.KeyType) {
		errs = append(errs, fmt.Errorf("%w %q (want one of %v)", pki.ErrKeyType, o.KeyType, pki.KeyTypes))
	}
	if _, err := parseRecipients(o.Recipients); err != nil {
		errs = append(errs, err)
	}
	for _, d := range o.PermitDNS {
		errs = append(errs, checkDNSName("permitted DNS domain (--permit-dns)", strings.ToLower(d)))
	}
	perm := o.permitted()
	if _, err := pki.ParseConstraints(perm.DNS, perm.IPs); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w (--permit-ip)", ErrInvalid, err))
	}
	if len(o.Recipients) == 0 && keys.Passphrase == "" {
		errs = append(errs, ErrNoKeys)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%w in %s (the directory is not empty)", ErrExists, dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("init: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	sec, err := Generate()
	if err != nil {
		return nil, err
	}
	s := &Store{Dir: dir, Secrets: sec, keys: keys, Manifest: Manifest{
		Version: 1, Cluster: o.Cluster, Datacenter: o.Datacenter, Domain: o.Domain, KeyType: string(o.KeyType),
		Recipients: o.Recipients, Permitted: &perm, Nodes: []Node{}, Rotated: map[Kind]time.Time{},
	}}
	if err := s.addCA(o.Now); err != nil {
		return nil, err
	}
	for _, k := range Kinds {
		s.Manifest.Rotated[k] = o.Now.UTC()
	}
	return s, s.save()
}

func (s *Store) addCA(now time.Time) error {
	name := fmt.Sprintf("%s %s CA %s", s.Manifest.Cluster, s.Manifest.Datacenter, now.UTC().Format("2006-01-02"))
	perm := s.permitted()
	cons, err := pki.ParseConstraints(perm.DNS, perm.IPs)
	if err != nil {
		return err
	}
	ca, err := pki.NewCA(name, pki.KeyType(s.Manifest.KeyType), now, pki.CAValidity, cons)
	if err != nil {
		return err
	}
	c, err := pki.ParseCert(ca.CertPEM)
	if err != nil {
		return err
	}
	s.Manifest.CAs = append(s.Manifest.CAs, CA{CertPEM: string(ca.CertPEM), Fingerprint: pki.Fingerprint(c), NotAfter: c.NotAfter.UTC()})
	s.Secrets.CAKeys = append(s.Secrets.CAKeys, ca.KeyPEM)
	return nil
}

// permitted is what the store's CAs may sign. A store made before CAs had name constraints
// gets them at its next CA rotation: the cluster domain, localhost, the --dns names of its
// nodes, and the private ranges with the addresses of its nodes.
func (s *Store) permitted() Permitted {
	if s.Manifest.Permitted != nil {
		return *s.Manifest.Permitted
	}
	p := Permitted{DNS: []string{s.Manifest.Domain, "localhost"}, IPs: slices.Clone(pki.DefaultIPRanges)}
	for _, n := range s.Manifest.Nodes {
		for _, d := range n.DNS {
			if !slices.Contains(p.DNS, d) {
				p.DNS = append(p.DNS, d)
			}
		}
		for _, ip := range n.IPs {
			if parsed := net.ParseIP(ip); parsed != nil {
				bits := 128
				if parsed.To4() != nil {
					bits = 32
				}
				p.IPs = append(p.IPs, fmt.Sprintf("%s/%d", parsed, bits))
			}
		}
	}
	s.Manifest.Permitted = &p
	return p
}

// signer is the active CA: the newest.
func (s *Store) signer() pki.Pair {
	i := len(s.Manifest.CAs) - 1
	return pki.Pair{CertPEM: []byte(s.Manifest.CAs[i].CertPEM), KeyPEM: s.Secrets.CAKeys[i]}
}

// CABundle is every trusted CA certificate, PEM, oldest first: what nodes put in ca.pem.
func (s *Store) CABundle() []byte {
	return caBundle(s.Manifest)
}

func caBundle(m Manifest) []byte {
	var b bytes.Buffer
	for _, ca := range m.CAs {
		b.WriteString(ca.CertPEM)
	}
	return b.Bytes()
}

// Node returns the issued node called name.
func (s *Store) Node(name string) (Node, bool) {
	for _, n := range s.Manifest.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// ReadManifest reads the public manifest alone: no keys needed, nothing checked against the
// sealed copy.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("%w in %s", ErrNoStore, dir)
	}
	if err != nil {
		return m, fmt.Errorf("read manifest: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %s: %w", ErrCorrupt, ManifestFile, err)
	}
	return m, nil
}

// Open reads and decrypts the store in dir and checks it: the public manifest must be the
// sealed one, every key must belong to its certificate.
func Open(dir string, keys Keys) (*Store, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, SecretsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is missing", ErrCorrupt, SecretsFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read secrets: %w", err)
	}
	plain, err := decrypt(raw, m.Recipients, keys)
	if err != nil {
		return nil, err
	}
	var sl sealed
	if err := json.Unmarshal(plain, &sl); err != nil {
		return nil, fmt.Errorf("%w: %s does not decode", ErrCorrupt, SecretsFile) // never quote plaintext
	}
	clear(plain)
	s := &Store{Dir: dir, Manifest: sl.Manifest, Secrets: &sl.Secrets, keys: keys}
	if err := s.check(m); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) check(public Manifest) error {
	a, _ := json.Marshal(public)
	b, _ := json.Marshal(s.Manifest)
	if !bytes.Equal(a, b) {
		return fmt.Errorf("%w: %s differs from the copy sealed in %s (edited by hand, or a write was interrupted)", ErrCorrupt, ManifestFile, SecretsFile)
	}
	if len(s.Manifest.CAs) == 0 || len(s.Manifest.CAs) != len(s.Secrets.CAKeys) {
		return fmt.Errorf("%w: %d CA certificates but %d CA keys", ErrCorrupt, len(s.Manifest.CAs), len(s.Secrets.CAKeys))
	}
	for i, ca := range s.Manifest.CAs {
		if !pki.Matches(pki.Pair{CertPEM: []byte(ca.CertPEM), KeyPEM: s.Secrets.CAKeys[i]}) {
			return fmt.Errorf("%w: CA %s and its key do not match", ErrCorrupt, ca.Fingerprint)
		}
	}
	for _, n := range s.Manifest.Nodes {
		if !pki.Matches(pki.Pair{CertPEM: []byte(n.CertPEM), KeyPEM: s.Secrets.NodeKeys[n.Name]}) {
			return fmt.Errorf("%w: node %s: certificate and key do not match", ErrCorrupt, n.Name)
		}
	}
	return nil
}

// save writes the store: secrets.age first (the commit), then the public copies.
func (s *Store) save() error {
	slices.SortFunc(s.Manifest.Nodes, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	plain, err := json.Marshal(sealed{Manifest: s.Manifest, Secrets: *s.Secrets})
	if err != nil {
		return fmt.Errorf("encode secrets: %w", err)
	}
	enc, err := encrypt(plain, s.Manifest.Recipients, s.keys)
	clear(plain)
	if err != nil {
		return err
	}
	pub, err := json.MarshalIndent(s.Manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := writeAtomic(s.Dir, SecretsFile, enc); err != nil {
		return err
	}
	if err := writeAtomic(s.Dir, CAFile, s.CABundle()); err != nil {
		return err
	}
	nodes := filepath.Join(s.Dir, NodesDir)
	if err := os.MkdirAll(nodes, 0o700); err != nil {
		return fmt.Errorf("write store: %w", err)
	}
	for _, n := range s.Manifest.Nodes {
		if err := writeAtomic(nodes, n.Name+".pem", []byte(n.CertPEM)); err != nil {
			return err
		}
	}
	return writeAtomic(s.Dir, ManifestFile, append(pub, '\n'))
}
