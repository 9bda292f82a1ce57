// Package pki makes the cluster CA and the per-node TLS certificates it signs.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// KeyType is the CA's key algorithm.
type KeyType string

const (
	ECDSAP256 KeyType = "ecdsa-p256"
	RSA3072   KeyType = "rsa-3072"
)

// KeyTypes are the accepted key types, the default first.
var KeyTypes = []KeyType{ECDSAP256, RSA3072}

// ErrKeyType is returned for an unknown key type.
var ErrKeyType = errors.New("unknown key type")

// Default lifetimes.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	NodeValidity = 90 * 24 * time.Hour
)

// Pair is a certificate and its private key, both PEM.
type Pair struct {
	CertPEM []byte
	KeyPEM  []byte
}

func newKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case ECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, fmt.Errorf("%w %q (want one of %v)", ErrKeyType, kt, KeyTypes)
}

// serial is a random 128-bit positive serial number.
func serial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // keep it 128 bits long, positive
	return new(big.Int).SetBytes(b), nil
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Constraints are the names a cluster CA may sign, as critical X.509 name constraints, so
// that a CA operators import to reach the web UIs cannot vouch for any other name: DNS
// domains (each with its subdomains) and address ranges.
type Constraints struct {
	DNS []string
	IPs []*net.IPNet
}

// DefaultIPRanges are the address ranges a cluster CA permits unless told otherwise:
// loopback, the private IPv4 ranges (RFC 1918), shared address space (RFC 6598, used by some
// clouds) and IPv6 unique local addresses.
var DefaultIPRanges = []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "::1/128", "fc00::/7"}

// ErrNotPermitted reports a name or address outside a CA's name constraints.
var ErrNotPermitted = errors.New("not permitted by the CA's name constraints")

// ParseConstraints checks DNS domains and CIDR ranges and returns them as constraints; every
// problem at once.
func ParseConstraints(dns, cidrs []string) (Constraints, error) {
	var c Constraints
	var errs []error
	for _, d := range dns {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.ContainsAny(d, " */:") {
			errs = append(errs, fmt.Errorf("permitted DNS domain %q: want a domain such as example.org", d))
			continue
		}
		c.DNS = append(c.DNS, d)
	}
	for _, r := range cidrs {
		_, n, err := net.ParseCIDR(strings.TrimSpace(r))
		if err != nil {
			errs = append(errs, fmt.Errorf("permitted address range %q: want a CIDR block such as 10.0.0.0/8", r))
			continue
		}
		c.IPs = append(c.IPs, n)
	}
	return c, errors.Join(errs...)
}

// Permits says whether a DNS name or an IP address falls inside the constraints, as X.509
// name constraints are read (RFC 5280 4.2.1.10: a domain permits itself and its subdomains).
func (c Constraints) Permits(dns []string, ips []net.IP) error {
	var bad []string
	for _, d := range dns {
		d = strings.ToLower(d)
		ok := false
		for _, p := range c.DNS {
			if p == "" || d == p || strings.HasSuffix(d, "."+p) {
				ok = true
			}
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("DNS name %s (permitted: %s)", d, strings.Join(c.DNS, ", ")))
		}
	}
	for _, ip := range ips {
		ok := false
		var ranges []string
		for _, n := range c.IPs {
			ranges = append(ranges, n.String())
			if n.Contains(ip) {
				ok = true
			}
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("address %s (permitted: %s)", ip, strings.Join(ranges, ", ")))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrNotPermitted, strings.Join(bad, "; "))
	}
	return nil
}

// NewCA makes a self-signed cluster CA valid from now for validity that may sign only what
// cons permits (critical name constraints) and only certificates for TLS servers and clients.
func NewCA(commonName string, kt KeyType, now time.Time, validity time.Duration, cons Constraints) (Pair, error) {
	if len(cons.DNS) == 0 || len(cons.IPs) == 0 {
		return Pair{}, errors.New("a cluster CA needs permitted DNS domains and address ranges")
	}
	key, err := newKey(kt)
	if err != nil {
		return Pair{}, err
	}
	sn, err := serial()
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"mantlet"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// what the leaves may be used for (verifiers apply a CA's extended key usage to its
		// chain) and what they may name
		ExtKeyUsage:                 []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         cons.DNS,
		PermittedIPRanges:           cons.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return Pair{}, fmt.Errorf("create ca certificate: %w", err)
	}
	kp, err := encodeKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: kp}, nil
}

// NodeRequest says what a node certificate is for.
type NodeRequest struct {
	Name       string
	Control    bool // adds server.<dc>.<domain>
	IPs        []net.IP
	DNS        []string
	Datacenter string
	Domain     string
	Now        time.Time
	Validity   time.Duration // NodeValidity when zero
}

// SANs are the DNS names and IPs a node certificate carries, without duplicates:
// <node>.node.<dc>.<domain>, localhost, server.<dc>.<domain> for control nodes, the extra
// names; its IPs and 127.0.0.1. The bare node name is not among them: a single label fits
// no name constraint of the CA (the node's name under the cluster domain stands for it).
func SANs(r NodeRequest) ([]string, []net.IP) {
	dns := []string{r.Name + ".node." + r.Datacenter + "." + r.Domain, "localhost"}
	if r.Control {
		dns = append(dns, "server."+r.Datacenter+"."+r.Domain)
	}
	dns = append(dns, r.DNS...)
	seen := map[string]bool{}
	var outDNS []string
	for _, d := range dns {
		d = strings.ToLower(d)
		if !seen[d] {
			seen[d] = true
			outDNS = append(outDNS, d)
		}
	}
	var outIP []net.IP
	seenIP := map[string]bool{}
	for _, ip := range append(append([]net.IP{}, r.IPs...), net.IPv4(127, 0, 0, 1)) {
		if !seenIP[ip.String()] {
			seenIP[ip.String()] = true
			outIP = append(outIP, ip)
		}
	}
	return outDNS, outIP
}

// Issue makes a fresh ECDSA P-256 key for a node and a certificate for it signed by ca,
// for both serverAuth and clientAuth. The certificate never outlives the CA, and names
// nothing the CA's name constraints do not permit (ErrNotPermitted).
func Issue(ca Pair, r NodeRequest) (Pair, error) {
	caCert, err := ParseCert(ca.CertPEM)
	if err != nil {
		return Pair{}, fmt.Errorf("ca: %w", err)
	}
	caKey, err := ParseKey(ca.KeyPEM)
	if err != nil {
		return Pair{}, fmt.Errorf("ca: %w", err)
	}
	key, err := newKey(ECDSAP256)
	if err != nil {
		return Pair{}, err
	}
	sn, err := serial()
	if err != nil {
		return Pair{}, err
	}
	validity := r.Validity
	if validity == 0 {
		validity = NodeValidity
	}
	notAfter := r.Now.Add(validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	dns, ips := SANs(r)
	if err := CAConstraints(caCert).Permits(dns, ips); err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: r.Name + ".node." + r.Datacenter + "." + r.Domain, Organization: []string{"mantlet"}},
		NotBefore:    r.Now.Add(-5 * time.Minute),
		NotAfter:     notAfter,
		// ECDSA keys sign (the TLS handshake); KeyEncipherment is for RSA key transport only
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dns,
		IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return Pair{}, fmt.Errorf("create node certificate: %w", err)
	}
	kp, err := encodeKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: kp}, nil
}

// CAConstraints are the name constraints of a CA certificate; a CA without any (made before
// they were) permits everything.
func CAConstraints(c *x509.Certificate) Constraints {
	if len(c.PermittedDNSDomains) == 0 && len(c.PermittedIPRanges) == 0 {
		_, all4, _ := net.ParseCIDR("0.0.0.0/0")
		_, all6, _ := net.ParseCIDR("::/0")
		return Constraints{DNS: []string{""}, IPs: []*net.IPNet{all4, all6}}
	}
	return Constraints{DNS: c.PermittedDNSDomains, IPs: c.PermittedIPRanges}
}

// ParseCert reads the first certificate of a PEM block.
func ParseCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return c, nil
}

// ParseKey reads a PKCS#8 PEM private key.
func ParseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("parse private key") // the error could quote key bytes
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("private key cannot sign")
	}
	return s, nil
}

// Matches says whether key is the private key of cert.
func Matches(p Pair) bool {
	c, err := ParseCert(p.CertPEM)
	if err != nil {
		return false
	}
	k, err := ParseKey(p.KeyPEM)
	if err != nil {
		return false
	}
	type eq interface{ Equal(crypto.PublicKey) bool }
	pub, ok := k.Public().(eq)
	return ok && pub.Equal(c.PublicKey)
}

// Fingerprint is SHA256:<hex> of a certificate's DER.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "SHA256:" + hex.EncodeToString(sum[:])
}
