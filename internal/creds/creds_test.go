package creds

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/bcrypt"

	"github.com/mantlet/mantlet/internal/pki"
)

const testPass = "correct horse battery staple"

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestMain(m *testing.M) {
	ScryptWorkFactor = 10 // age's default takes a second per open
	os.Exit(m.Run())
}

func newStore(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cluster")
	if _, err := Init(dir, InitOptions{Cluster: "prod", Datacenter: "dc1", Domain: "consul", KeyType: pki.ECDSAP256, PermitDNS: []string{"example.org"}, Now: now}, Keys{Passphrase: testPass}); err != nil {
		t.Fatal(err)
	}
	issue(t, dir, IssueRequest{Node: "ctl-1", Role: RoleControl, IPs: []string{"10.0.0.11"}, Now: now})
	return dir
}

func issue(t *testing.T, dir string, r IssueRequest) {
	t.Helper()
	if err := Change(dir, Keys{Passphrase: testPass}, func(s *Store) error { return s.Issue(r) }); err != nil {
		t.Fatal(err)
	}
}

// snapshot is every file of the store with its mode and a hash of its contents.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		line := rel + " " + fi.Mode().String()
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			line += " " + hex.EncodeToString(sum[:8])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestInitFilesPrivate(t *testing.T) {
	dir := newStore(t)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		fi, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700 | fs.ModeDir
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %s, want %s", p, fi.Mode(), want)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ManifestFile, SecretsFile, CAFile, "nodes/ctl-1.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestSecretsNotInTheClear(t *testing.T) {
	dir := newStore(t)
	s, err := Open(dir, Keys{Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{s.Secrets.Gossip, s.Secrets.WebPassword, s.Secrets.MarathonPassword, "PRIVATE KEY"}
	for _, v := range s.Secrets.ConsulTokens {
		secrets = append(secrets, v)
	}
	for _, v := range s.Secrets.ZooKeeper {
		secrets = append(secrets, v, ZooKeeperDigest("x", v)[:10])
	}
	for _, v := range s.Secrets.Mesos {
		secrets = append(secrets, v)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			for _, v := range secrets {
				if v != "" && strings.Contains(string(b), v) {
					t.Errorf("%s holds a secret in the clear", p)
				}
			}
		}
		return nil
	})
}

func TestGeneratedSecrets(t *testing.T) {
	s, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := base64.StdEncoding.DecodeString(s.Gossip); err != nil || len(b) != 32 {
		t.Errorf("gossip key: %d bytes, %v", len(b), err)
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for _, n := range TokenNames {
		if !uuid.MatchString(s.ConsulTokens[n]) {
			t.Errorf("token %s is not a UUID", n)
		}
		seen[s.ConsulTokens[n]] = true
	}
	for _, m := range []map[string]string{s.ZooKeeper, s.Mesos} {
		for n, p := range m {
			if len(p) != 32 || seen[p] {
				t.Errorf("%s: password of %d characters or repeated", n, len(p))
			}
			seen[p] = true
		}
	}
	user, hash, _ := strings.Cut(s.WebHtpasswd, ":")
	if user != WebUser || !strings.HasPrefix(hash, "$2y$12$") {
		t.Errorf("htpasswd line %q...", s.WebHtpasswd[:12])
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(s.WebPassword)); err != nil {
		t.Errorf("htpasswd does not match: %v", err)
	}
}

// Vectors from ZooKeeper 3.8's own generator:
// java -cp /usr/share/java/zookeeper.jar:... org.apache.zookeeper.server.auth.DigestAuthenticationProvider user:password
func TestZooKeeperDigestVectors(t *testing.T) {
	for _, v := range []struct{ user, pass, digest string }{
		{"super", "secret", "lK75jTNcA+U9vtVEw5vB51mj/w4="},
		{"mesos", "p@ss:w0rd", "71NUgVMBGCljgWQfL8xn41UbOcc="},
		{"marathon", "Zm9vYmFy-_x", "MKjYzeKK50PWe1LLvRDHgkkvOaI="},
	} {
		if got := ZooKeeperDigest(v.user, v.pass); got != v.digest {
			t.Errorf("%s: got %s, want %s", v.user, got, v.digest)
		}
	}
}

func TestIssueAndReopen(t *testing.T) {
	dir := newStore(t)
	issue(t, dir, IssueRequest{Node: "wrk-1", Role: RoleWorker, IPs: []string{"10.0.0.21", "fd00::21"}, DNS: []string{"wrk-1.example.org"}, Now: now})
	s, err := Open(dir, Keys{Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	n, ok := s.Node("wrk-1")
	if !ok || n.Role != RoleWorker || len(n.IPs) != 2 || !pki.Matches(pki.Pair{CertPEM: []byte(n.CertPEM), KeyPEM: s.Secrets.NodeKeys["wrk-1"]}) {
		t.Fatalf("node %+v", n)
	}
	if names := []string{s.Manifest.Nodes[0].Name, s.Manifest.Nodes[1].Name}; names[0] != "ctl-1" || names[1] != "wrk-1" {
		t.Fatalf("nodes %v", names)
	}
}

// Every bad input is a clear error and leaves the store as it was.
func TestBadInputChangesNothing(t *testing.T) {
	dir := newStore(t)
	good := Keys{Passphrase: testPass}
	req := IssueRequest{Node: "wrk-1", Role: RoleWorker, IPs: []string{"10.0.0.21"}, Now: now}
	with := func(f func(*IssueRequest)) IssueRequest { r := req; f(&r); return r }
	for _, tc := range []struct {
		name string
		keys Keys
		req  IssueRequest
		prep func(t *testing.T) // damages a copy of the store
		is   error
		msg  string
	}{
		{name: "missing passphrase", keys: Keys{}, req: req, is: ErrNoKeys},
		{name: "wrong passphrase", keys: Keys{Passphrase: "wrong"}, req: req, is: ErrDecrypt},
		{name: "node issued twice", keys: good, req: with(func(r *IssueRequest) { r.Node = "ctl-1" }), is: ErrNodeExists, msg: "ctl-1"},
		{name: "ip does not parse", keys: good, req: with(func(r *IssueRequest) { r.IPs = []string{"10.0.0.256"} }), is: ErrInvalid, msg: `ip "10.0.0.256" does not parse`},
		{name: "unknown role", keys: good, req: with(func(r *IssueRequest) { r.Role = "boss" }), is: ErrInvalid, msg: `unknown role "boss"`},
		{name: "bad node name", keys: good, req: with(func(r *IssueRequest) { r.Node = "Wrk_1" }), is: ErrInvalid, msg: "node"},
		{name: "truncated secrets", keys: good, req: req, is: ErrDecrypt, prep: func(t *testing.T) {
			b, _ := os.ReadFile(filepath.Join(dir, SecretsFile))
			os.WriteFile(filepath.Join(dir, SecretsFile), b[:len(b)-40], 0o600)
		}},
		{name: "tampered secrets", keys: good, req: req, is: ErrDecrypt, prep: func(t *testing.T) {
			b, _ := os.ReadFile(filepath.Join(dir, SecretsFile))
			b[len(b)-10] ^= 1
			os.WriteFile(filepath.Join(dir, SecretsFile), b, 0o600)
		}},
		{name: "tampered manifest", keys: good, req: req, is: ErrCorrupt, msg: "differs", prep: func(t *testing.T) {
			b, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
			os.WriteFile(filepath.Join(dir, ManifestFile), []byte(strings.Replace(string(b), `"dc1"`, `"dc2"`, 1)), 0o600)
		}},
		{name: "truncated manifest", keys: good, req: req, is: ErrCorrupt, prep: func(t *testing.T) {
			b, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
			os.WriteFile(filepath.Join(dir, ManifestFile), b[:20], 0o600)
		}},
		{name: "no store", keys: good, req: req, is: ErrNoStore, prep: func(t *testing.T) {
			os.Remove(filepath.Join(dir, ManifestFile))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := map[string][]byte{}
			for _, f := range []string{ManifestFile, SecretsFile} {
				saved[f], _ = os.ReadFile(filepath.Join(dir, f))
			}
			t.Cleanup(func() {
				for f, b := range saved {
					os.WriteFile(filepath.Join(dir, f), b, 0o600)
				}
			})
			if tc.prep != nil {
				tc.prep(t)
			}
			before := snapshot(t, dir)
			err := Change(dir, tc.keys, func(s *Store) error { return s.Issue(tc.req) })
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.is, tc.msg)
			}
			if strings.Contains(err.Error(), testPass) {
				t.Fatal("passphrase in the error")
			}
			if after := snapshot(t, dir); after != before {
				t.Fatalf("store changed:\n%s\n---\n%s", before, after)
			}
		})
	}
}

func TestInitRefuses(t *testing.T) {
	dir := newStore(t)
	before := snapshot(t, dir)
	if _, err := Init(dir, InitOptions{Cluster: "prod", Datacenter: "dc1", Domain: "consul", KeyType: pki.ECDSAP256, Now: now}, Keys{Passphrase: testPass}); !errors.Is(err, ErrExists) {
		t.Fatalf("second init: %v", err)
	}
	if snapshot(t, dir) != before {
		t.Fatal("second init changed the store")
	}
	// every problem at once
	_, err := Init(filepath.Join(t.TempDir(), "x"), InitOptions{Cluster: "Prod!", Datacenter: "", Domain: "consul", KeyType: "dsa", Recipients: []string{"age1nope"},
		PermitDNS: []string{"*.bad"}, PermitIPs: []string{"10.0.0.1"}}, Keys{})
	for _, want := range []string{"cluster name", "datacenter", "unknown key type", "recipient 1", "--permit-dns", "--permit-ip"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %q", err, want)
		}
	}
}

func TestRecipients(t *testing.T) {
	var ids []age.Identity
	var recips []string
	for range 2 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		recips = append(recips, id.Recipient().String())
	}
	dir := filepath.Join(t.TempDir(), "c")
	if _, err := Init(dir, InitOptions{Cluster: "prod", Datacenter: "dc1", Domain: "consul", KeyType: pki.ECDSAP256, Recipients: recips, Now: now}, Keys{}); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids { // every operator opens it alone
		if _, err := Open(dir, Keys{Identities: []age.Identity{id}}); err != nil {
			t.Fatalf("operator %d: %v", i, err)
		}
	}
	stranger, _ := age.GenerateX25519Identity()
	if _, err := Open(dir, Keys{Identities: []age.Identity{stranger}}); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("stranger: %v", err)
	}
	if _, err := Open(dir, Keys{Passphrase: "x"}); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("passphrase on a recipient store: %v", err)
	}
}

// TestPostQuantumRecipients: a store for operators with post-quantum hybrid age keys
// (age1pq1..., AGE-SECRET-KEY-PQ-1...) is made, opened by each identity read from its file,
// and changed (encrypted to the recipients again); hybrid and classic keys mixed are refused
// up front, as age cannot encrypt to them together.
func TestPostQuantumRecipients(t *testing.T) {
	var files []string
	var recips []string
	for i := range 2 {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			t.Fatal(err)
		}
		recips = append(recips, id.Recipient().String())
		f := filepath.Join(t.TempDir(), fmt.Sprintf("op%d.key", i))
		if err := os.WriteFile(f, []byte("# operator\n"+id.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	dir := filepath.Join(t.TempDir(), "c")
	if _, err := Init(dir, InitOptions{Cluster: "prod", Datacenter: "dc1", Domain: "consul", KeyType: pki.ECDSAP256, Recipients: recips, Now: now}, Keys{}); err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		ids, err := ReadIdentities(f)
		if err != nil {
			t.Fatal(err)
		}
		err = Change(dir, Keys{Identities: ids}, func(s *Store) error {
			return s.Issue(IssueRequest{Node: fmt.Sprintf("n%d", i), Role: RoleWorker, IPs: []string{"10.0.0.9"}, Now: now})
		})
		if err != nil {
			t.Fatalf("operator %d: %v", i, err)
		}
	}
	classic, _ := age.GenerateX25519Identity()
	_, err := Init(filepath.Join(t.TempDir(), "mixed"), InitOptions{Cluster: "prod", Datacenter: "dc1", Domain: "consul", KeyType: pki.ECDSAP256,
		Recipients: []string{recips[0], classic.Recipient().String()}, Now: now}, Keys{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "cannot be mixed") {
		t.Fatalf("mixed recipients: %v", err)
	}
}

func TestRotate(t *testing.T) {
	dir := newStore(t)
	issue(t, dir, IssueRequest{Node: "wrk-1", Role: RoleWorker, IPs: []string{"10.0.0.21"}, Now: now})
	before, err := Open(dir, Keys{Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		var nodes []string
		later := now.Add(time.Hour)
		err := Change(dir, Keys{Passphrase: testPass}, func(s *Store) error {
			var err error
			nodes, err = s.Rotate(k, later)
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if strings.Join(nodes, ",") != "ctl-1,wrk-1" {
			t.Errorf("%s: nodes %v", k, nodes)
		}
	}
	after, err := Open(dir, Keys{Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	b, a := before.Secrets, after.Secrets
	if b.Gossip == a.Gossip || b.ConsulTokens["agent"] == a.ConsulTokens["agent"] || b.ZooKeeper["super"] == a.ZooKeeper["super"] ||
		b.Mesos["agent"] == a.Mesos["agent"] || b.WebHtpasswd == a.WebHtpasswd || string(b.NodeKeys["ctl-1"]) == string(a.NodeKeys["ctl-1"]) {
		t.Error("a secret survived its rotation")
	}
	// CA rotation: both CAs trusted, certificates from the old and the new one both verify
	if len(after.Manifest.CAs) != 2 {
		t.Fatalf("%d CAs after rotation", len(after.Manifest.CAs))
	}
	if err := Change(dir, Keys{Passphrase: testPass}, func(s *Store) error {
		return s.Issue(IssueRequest{Node: "wrk-2", Role: RoleWorker, IPs: []string{"10.0.0.22"}, Now: now})
	}); err != nil {
		t.Fatal(err)
	}
	bundle, _ := os.ReadFile(filepath.Join(dir, CAFile))
	for _, cert := range []string{before.Manifest.Nodes[0].CertPEM, after.Manifest.Nodes[0].CertPEM} {
		if err := verify(bundle, []byte(cert), now.Add(2*time.Hour)); err != nil {
			t.Errorf("against the bundle: %v", err)
		}
	}
	if err := verify([]byte(before.Manifest.CAs[0].CertPEM), []byte(after.Manifest.Nodes[0].CertPEM), now.Add(2*time.Hour)); err == nil {
		t.Error("a new certificate verified against the old CA alone: not signed by the new one")
	}
}

// TestCANameConstraintsFollowTheStore: the CA a store makes may sign only the cluster's
// names and ranges; a node outside them is refused with what to do, and a CA rotation keeps
// the constraints. A store made before constraints gets ones that fit its nodes.
func TestCANameConstraintsFollowTheStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	s, err := Init(dir, InitOptions{Cluster: "prod", Datacenter: "dc1", Domain: "consul", KeyType: pki.ECDSAP256,
		PermitDNS: []string{"Corp.Example"}, PermitIPs: []string{"10.20.0.0/16"}, Now: now}, Keys{Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	want := Permitted{DNS: []string{"consul", "localhost", "corp.example"}, IPs: []string{"127.0.0.0/8", "10.20.0.0/16"}}
	if s.Manifest.Permitted == nil || !slices.Equal(s.Manifest.Permitted.DNS, want.DNS) || !slices.Equal(s.Manifest.Permitted.IPs, want.IPs) {
		t.Fatalf("permitted %+v, want %+v", s.Manifest.Permitted, want)
	}
	for _, r := range []IssueRequest{
		{Node: "a", Role: RoleWorker, IPs: []string{"10.30.0.1"}, Now: now},
		{Node: "b", Role: RoleWorker, IPs: []string{"10.20.0.1"}, DNS: []string{"b.example.org"}, Now: now},
	} {
		if err := s.Issue(r); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--permit") {
			t.Errorf("%s: %v", r.Node, err)
		}
	}
	if err := s.Issue(IssueRequest{Node: "c", Role: RoleWorker, IPs: []string{"10.20.0.1"}, DNS: []string{"c.corp.example"}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(KindCA, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, ca := range s.Manifest.CAs {
		c, _ := pki.ParseCert([]byte(ca.CertPEM))
		if !slices.Equal(c.PermittedDNSDomains, want.DNS) || len(c.PermittedIPRanges) != 2 || !c.PermittedDNSDomainsCritical {
			t.Errorf("CA %s: constraints %v %v", ca.Fingerprint, c.PermittedDNSDomains, c.PermittedIPRanges)
		}
	}
	// a store of before: no permitted names in the manifest
	old := &Store{Manifest: Manifest{Domain: "consul", Nodes: []Node{{Name: "n", IPs: []string{"203.0.113.9"}, DNS: []string{"n.old.example"}}}}}
	p := old.permitted()
	if !slices.Contains(p.DNS, "n.old.example") || !slices.Contains(p.IPs, "203.0.113.9/32") || !slices.Contains(p.IPs, "10.0.0.0/8") {
		t.Errorf("derived permitted %+v", p)
	}
}
