package pki

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testConstraints are those of a cluster with domain consul and the default ranges.
func testConstraints(t *testing.T) Constraints {
	t.Helper()
	c, err := ParseConstraints([]string{"consul", "localhost", "example.org"}, DefaultIPRanges)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustCA(t *testing.T, kt KeyType) Pair {
	t.Helper()
	ca, err := NewCA("test CA", kt, time.Now(), CAValidity, testConstraints(t))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t *testing.T, ca Pair, name string, control bool) Pair {
	t.Helper()
	p, err := Issue(ca, NodeRequest{Name: name, Control: control, IPs: []net.IP{net.ParseIP("10.0.0.11")}, Datacenter: "dc1", Domain: "consul", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSANs(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  NodeRequest
		dns  []string
		ips  []string
	}{
		{"control", NodeRequest{Name: "ctl-1", Control: true, IPs: []net.IP{net.ParseIP("10.0.0.11")}, Datacenter: "dc1", Domain: "consul"},
			[]string{"ctl-1.node.dc1.consul", "localhost", "server.dc1.consul"}, []string{"10.0.0.11", "127.0.0.1"}},
		{"worker with extras and duplicates", NodeRequest{Name: "w1", IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("fd00::1")}, DNS: []string{"W1.example.org", "localhost"}, Datacenter: "dc2", Domain: "corp"},
			[]string{"w1.node.dc2.corp", "localhost", "w1.example.org"}, []string{"127.0.0.1", "fd00::1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dns, ips := SANs(tc.req)
			var got []string
			for _, ip := range ips {
				got = append(got, ip.String())
			}
			if !slices.Equal(dns, tc.dns) || !slices.Equal(got, tc.ips) {
				t.Fatalf("got %v %v, want %v %v", dns, got, tc.dns, tc.ips)
			}
		})
	}
}

func TestNodeCertificate(t *testing.T) {
	for _, kt := range KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			ca := mustCA(t, kt)
			p, err := Issue(ca, NodeRequest{Name: "ctl-1", Control: true, IPs: []net.IP{net.ParseIP("10.0.0.11")}, Datacenter: "dc1", Domain: "consul", Now: now})
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseCert(p.CertPEM)
			if err != nil {
				t.Fatal(err)
			}
			if c.SerialNumber.BitLen() != 127 {
				t.Errorf("serial has %d bits", c.SerialNumber.BitLen())
			}
			if got := c.NotAfter.Sub(now); got != NodeValidity {
				t.Errorf("validity %s", got)
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
				t.Errorf("ext key usage %v", c.ExtKeyUsage)
			}
			if !Matches(p) || Matches(pki(ca.CertPEM, p.KeyPEM)) {
				t.Error("Matches is wrong")
			}
			// an ECDSA key signs; key encipherment is RSA key transport
			if c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("key usage %b, want digital signature only", c.KeyUsage)
			}
		})
	}
}

func pki(cert, key []byte) Pair { return Pair{CertPEM: cert, KeyPEM: key} }

func TestSerialsDiffer(t *testing.T) {
	ca := mustCA(t, ECDSAP256)
	a, _ := ParseCert(mustIssue(t, ca, "a", false).CertPEM)
	b, _ := ParseCert(mustIssue(t, ca, "a", false).CertPEM)
	if a.SerialNumber.Cmp(b.SerialNumber) == 0 {
		t.Fatal("same serial twice")
	}
}

func TestUnknownKeyType(t *testing.T) {
	if _, err := NewCA("x", "dsa", now, CAValidity, testConstraints(t)); err == nil || !strings.Contains(err.Error(), `unknown key type "dsa"`) {
		t.Fatalf("got %v", err)
	}
}

// A Go TLS handshake with node certificates on both ends, each verifying the other against
// the CA; the client checks the server name Consul's verify_server_hostname checks.
func TestTLSHandshakeMutual(t *testing.T) {
	ca := mustCA(t, ECDSAP256)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	server := mustIssue(t, ca, "ctl-1", true)
	client := mustIssue(t, ca, "wrk-1", false)
	other := mustIssue(t, mustCA(t, ECDSAP256), "evil", true)

	for _, tc := range []struct {
		name       string
		server     Pair
		client     Pair
		serverName string
		ok         bool
	}{
		{"server name", server, client, "server.dc1.consul", true},
		{"node name", server, client, "ctl-1.node.dc1.consul", true},
		{"localhost", server, client, "localhost", true},
		{"worker is no server", client, server, "server.dc1.consul", false},
		{"foreign CA server", other, client, "server.dc1.consul", false},
		{"foreign CA client", server, other, "server.dc1.consul", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := handshake(t, pool, tc.server, tc.client, tc.serverName)
			if tc.ok && err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("handshake succeeded")
			}
		})
	}
}

func handshake(t *testing.T, pool *x509.CertPool, server, client Pair, serverName string) error {
	t.Helper()
	sc, err := tls.X509KeyPair(server.CertPEM, server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{sc}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		done <- c.(*tls.Conn).Handshake()
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Minute}, "tcp", ln.Addr().String(), &tls.Config{Certificates: []tls.Certificate{cc}, RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12})
	if err == nil {
		// TLS 1.3: the server's verdict on the client arrives with the first read
		conn.SetDeadline(time.Now().Add(time.Minute))
		_, err = conn.Read(make([]byte, 1))
		if err != nil && strings.Contains(err.Error(), "EOF") {
			err = nil
		}
		conn.Close()
	}
	serr := <-done
	if err != nil {
		return err
	}
	return serr
}

// openssl verify accepts node certificates for both purposes.
func TestOpenSSLVerify(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (Debian package openssl)")
	}
	for _, kt := range KeyTypes {
		t.Run(string(kt), func(t *testing.T) {
			dir := t.TempDir()
			ca := mustCA(t, kt)
			node := mustIssue(t, ca, "ctl-1", true)
			caFile, certFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node.pem")
			os.WriteFile(caFile, ca.CertPEM, 0o600)
			os.WriteFile(certFile, node.CertPEM, 0o600)
			for _, args := range [][]string{
				{"verify", "-CAfile", caFile, "-purpose", "sslserver", "-verify_hostname", "server.dc1.consul", certFile},
				{"verify", "-CAfile", caFile, "-purpose", "sslclient", "-verify_ip", "10.0.0.11", certFile},
			} {
				out, err := exec.Command("openssl", args...).CombinedOutput()
				if err != nil || !strings.Contains(string(out), ": OK") {
					t.Fatalf("openssl %v: %v\n%s", args, err, out)
				}
			}
			out, err := exec.Command("openssl", "verify", "-CAfile", caFile, "-verify_hostname", "server.dc2.consul", certFile).CombinedOutput()
			if err == nil {
				t.Fatalf("openssl accepted a wrong hostname:\n%s", out)
			}
		})
	}
}

// TestCANameConstraints: the CA carries critical name constraints, so that a certificate it
// signs for a name outside the cluster's domains or an address outside its ranges fails
// verification, in Go's verifier and in openssl's, and Issue refuses to make one.
func TestCANameConstraints(t *testing.T) {
	ca := mustCA(t, ECDSAP256)
	caCert, _ := ParseCert(ca.CertPEM)
	if !caCert.PermittedDNSDomainsCritical || !slices.Equal(caCert.PermittedDNSDomains, []string{"consul", "localhost", "example.org"}) || len(caCert.PermittedIPRanges) != len(DefaultIPRanges) {
		t.Fatalf("constraints: critical %v, dns %v, ips %v", caCert.PermittedDNSDomainsCritical, caCert.PermittedDNSDomains, caCert.PermittedIPRanges)
	}
	if !slices.Equal(caCert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("CA extended key usage %v", caCert.ExtKeyUsage)
	}
	for _, tc := range []struct {
		name string
		dns  []string
		ip   string
		ok   bool
	}{
		{"cluster names", []string{"w.example.org"}, "10.1.2.3", true},
		{"a public name", []string{"www.bank.example.com"}, "10.1.2.3", false},
		{"a look-alike", []string{"evilexample.org"}, "10.1.2.3", false},
		{"a public address", nil, "8.8.8.8", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Issue(ca, NodeRequest{Name: "n", IPs: []net.IP{net.ParseIP(tc.ip)}, DNS: tc.dns, Datacenter: "dc1", Domain: "consul", Now: now})
			if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, ErrNotPermitted) {
				t.Fatalf("Issue: %v (want ok %v)", err, tc.ok)
			}
		})
	}
	// a leaf the CA key signs by hand for a public name: verifiers refuse it
	key, _ := ParseKey(ca.KeyPEM)
	leafKey, _ := newKey(ECDSAP256)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "www.bank.example.com"}, DNSNames: []string{"www.bank.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, leafKey.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "www.bank.example.com"}); err == nil {
		t.Error("Go verified a certificate for a name outside the CA's constraints")
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		dir := t.TempDir()
		caFile, leafFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "leaf.pem")
		os.WriteFile(caFile, ca.CertPEM, 0o600)
		os.WriteFile(leafFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
		if out, err := exec.Command("openssl", "verify", "-CAfile", caFile, leafFile).CombinedOutput(); err == nil || !strings.Contains(string(out), "permitted") {
			t.Errorf("openssl verified a certificate outside the constraints (%v):\n%s", err, out)
		}
	}
	if _, err := NewCA("x", ECDSAP256, now, CAValidity, Constraints{}); err == nil {
		t.Error("a CA without constraints was made")
	}
}

func TestParseConstraints(t *testing.T) {
	if _, err := ParseConstraints([]string{"ok.example", ".bad", "*.wild", "a b"}, []string{"10.0.0.0/8", "10.0.0.1", "x"}); err == nil ||
		strings.Count(err.Error(), "\n")+1 != 5 {
		t.Fatalf("want five problems, got %v", err)
	}
}
