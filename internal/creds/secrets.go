package creds

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// Secrets is everything secret about a cluster. It only ever exists encrypted on disk
// (secrets.age) and in memory; no method prints it.
type Secrets struct {
	// CAKeys are the private keys of the CAs in Manifest.CAs, same order.
	CAKeys [][]byte `json:"ca_keys"`
	// Gossip is Consul's gossip encryption key: 32 random bytes, base64.
	Gossip string `json:"consul_gossip"`
	// ConsulTokens by name: see TokenNames.
	ConsulTokens map[string]string `json:"consul_tokens"`
	// ZooKeeper passwords by user: see ZooKeeperUsers.
	ZooKeeper map[string]string `json:"zookeeper"`
	// Mesos secrets by principal: see MesosPrincipals.
	Mesos map[string]string `json:"mesos"`
	// MarathonPassword is Marathon's HTTP basic password for user MarathonUser.
	MarathonPassword string `json:"marathon_password"`
	// WebPassword is the admin password nginx asks for (user WebUser).
	WebPassword string `json:"web_password"`
	// WebHtpasswd is WebUser:bcrypt(WebPassword), the nginx auth_basic_user_file line.
	WebHtpasswd string `json:"web_htpasswd"`
	// NodeKeys are the nodes' TLS private keys (PEM) by node name.
	NodeKeys map[string][]byte `json:"node_keys"`
}

// Names of the generated credentials.
var (
	// TokenNames are the Consul ACL tokens: the initial management token, the agents'
	// token, and one per consumer.
	TokenNames     = []string{"initial-management", "agent", "consul-template", "marathon", "mesos", "vault"}
	ZooKeeperUsers = []string{"super", "mesos", "marathon"}
	// MesosPrincipals: the framework marathon, and the one all agents share.
	MesosPrincipals = []string{"marathon", "agent"}
)

const (
	MarathonUser = "marathon"
	WebUser      = "admin"
)

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("random: %w", err)
	}
	return b, nil
}

// NewGossipKey is 32 random bytes, base64 (what consul keygen prints).
func NewGossipKey() (string, error) {
	b, err := randomBytes(32)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// NewToken is a random UUID (version 4), the form of Consul ACL secret IDs.
func NewToken() (string, error) {
	b, err := randomBytes(16)
	if err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// NewPassword is 24 random bytes, base64url without padding: 32 characters, 192 bits, no
// character that needs quoting in a URL, a shell, a JSON or an htpasswd file.
func NewPassword() (string, error) {
	b, err := randomBytes(24)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ZooKeeperDigest is what ZooKeeper's DigestAuthenticationProvider.generateDigest gives,
// without the "user:" prefix: base64(SHA1("user:password")).
func ZooKeeperDigest(user, password string) string {
	sum := sha1.Sum([]byte(user + ":" + password))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Htpasswd is an nginx auth_basic_user_file line (no newline): user:bcrypt hash ($2y$).
// bcrypt's $2a$ and $2y$ are the same algorithm; glibc's crypt(3), which nginx calls, has
// accepted both since 2.28 (Debian 12: 2.36).
func Htpasswd(user, password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), 12)
	if err != nil {
		return "", fmt.Errorf("bcrypt: %w", err)
	}
	if len(h) > 4 && string(h[:4]) == "$2a$" {
		h[2] = 'y'
	}
	return user + ":" + string(h), nil
}

// Generate returns fresh secrets of every kind but the CA and node keys.
func Generate() (*Secrets, error) {
	s := &Secrets{NodeKeys: map[string][]byte{}}
	for _, kind := range []Kind{KindGossip, KindTokens, KindZooKeeper, KindMesos, KindWeb} {
		if err := s.regenerate(kind); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// regenerate replaces the secrets of one kind (not ca or node-certs).
func (s *Secrets) regenerate(kind Kind) error {
	var err error
	switch kind {
	case KindGossip:
		s.Gossip, err = NewGossipKey()
	case KindTokens:
		s.ConsulTokens, err = fill(TokenNames, NewToken)
	case KindZooKeeper:
		s.ZooKeeper, err = fill(ZooKeeperUsers, NewPassword)
	case KindMesos:
		s.Mesos, err = fill(MesosPrincipals, NewPassword)
	case KindWeb:
		if s.MarathonPassword, err = NewPassword(); err != nil {
			return err
		}
		if s.WebPassword, err = NewPassword(); err != nil {
			return err
		}
		s.WebHtpasswd, err = Htpasswd(WebUser, s.WebPassword)
	default:
		return fmt.Errorf("%w %q", ErrKind, kind)
	}
	return err
}

func fill(names []string, gen func() (string, error)) (map[string]string, error) {
	m := map[string]string{}
	for _, n := range names {
		v, err := gen()
		if err != nil {
			return nil, err
		}
		m[n] = v
	}
	return m, nil
}
