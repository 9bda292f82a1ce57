package pki

import (
	"crypto/tls"
	"crypto/x509"
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

func mustCA(t *testing.T, kt KeyType) Pair {
	t.Helper()
	ca, err := NewCA("test CA", kt, time.Now(), CAValidity)
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
			[]string{"ctl-1", "ctl-1.node.dc1.consul", "localhost", "server.dc1.consul"}, []string{"10.0.0.11", "127.0.0.1"}},
		{"worker with extras and duplicates", NodeRequest{Name: "w1", IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("fd00::1")}, DNS: []string{"W1.example.org", "localhost"}, Datacenter: "dc2", Domain: "corp"},
			[]string{"w1", "w1.node.dc2.corp", "localhost", "w1.example.org"}, []string{"127.0.0.1", "fd00::1"}},
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
	if _, err := NewCA("x", "dsa", now, CAValidity); err == nil || !strings.Contains(err.Error(), `unknown key type "dsa"`) {
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
