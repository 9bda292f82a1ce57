package qemu

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/mantlet/mantlet/internal/fsutil"
)

// HostKeys scans the node's SSH server for its host keys and checks each against the
// fingerprints the node printed on its console (ScanHostKeys). The keys are kept for
// WriteSSHConfig.
func (n *ClusterNode) HostKeys(ctx context.Context, timeout time.Duration) ([]ssh.PublicKey, error) {
	if _, err := n.machine(); err != nil {
		return nil, err
	}
	keys, err := ScanHostKeys(ctx, n.sshPort, n.Fingerprints(), timeout)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.spec.Name, err)
	}
	n.mu.Lock()
	n.hostKeys = keys
	n.mu.Unlock()
	return keys, nil
}

// SSH connects to the node's SSH server as user, accepting only a host key the node printed
// on its console (strict host key checking), retrying until it answers or timeout passes.
func (n *ClusterNode) SSH(ctx context.Context, user string, signer ssh.Signer, timeout time.Duration) (*SSHClient, error) {
	if _, err := n.machine(); err != nil {
		return nil, err
	}
	c, err := DialSSH(ctx, n.sshPort, user, signer, n.Fingerprints(), timeout)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.spec.Name, err)
	}
	return c, nil
}

// HostKeys scans every node's host keys at the same time (ClusterNode.HostKeys).
func (c *Cluster) HostKeys(ctx context.Context, timeout time.Duration) error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = n.HostKeys(ctx, timeout)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// WriteSSHConfig writes an ssh_config at path and its known_hosts file beside it
// (path + ".known_hosts") so that `ssh -F path NODE` logs in with StrictHostKeyChecking yes:
// each node is a Host with its forwarded port, and its host keys (HostKeys must have scanned
// them) are known under its name (HostKeyAlias). Both files are written atomically; it
// returns the known_hosts path.
func (c *Cluster) WriteSSHConfig(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	known := abs + ".known_hosts"
	var hosts []SSHHost
	for _, n := range c.nodes {
		n.mu.Lock()
		keys := slices.Clone(n.hostKeys)
		n.mu.Unlock()
		if len(keys) == 0 {
			return "", fmt.Errorf("node %s: no host keys scanned yet", n.spec.Name)
		}
		hosts = append(hosts, SSHHost{Name: n.spec.Name, Port: n.sshPort, Keys: keys})
	}
	cfg := SSHConfig(c.spec.Name, hosts, c.spec.SSHUser, c.spec.SSHIdentity, known)
	if err := fsutil.WriteFileAtomic(known, []byte(KnownHosts(hosts)), 0o644); err != nil {
		return "", err
	}
	if err := fsutil.WriteFileAtomic(abs, []byte(cfg), 0o644); err != nil {
		return "", err
	}
	return known, nil
}

// SSHHost is one node in an ssh config: its name, forwarded port and host keys.
type SSHHost struct {
	Name string
	Port int
	Keys []ssh.PublicKey
}

// SSHConfig renders the ssh_config of a cluster's nodes.
func SSHConfig(cluster string, hosts []SSHHost, user, identity, knownHosts string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# mantlet qemu cluster %s: ssh -F THIS-FILE NODE. Each node's host keys are the ones it", cluster)
	w("# printed on its console at first boot, as its SSH server offered them: strict checking.")
	for _, h := range hosts {
		w("")
		w("Host %s", h.Name)
		w("  HostName 127.0.0.1")
		w("  Port %d", h.Port)
		w("  User %s", user)
		w("  HostKeyAlias %s", h.Name)
		w("  UserKnownHostsFile %s", sshQuote(knownHosts))
		w("  GlobalKnownHostsFile none")
		w("  StrictHostKeyChecking yes")
		w("  UpdateHostKeys no")
		w("  CheckHostIP no")
		if identity != "" {
			w("  IdentityFile %s", sshQuote(identity))
			w("  IdentitiesOnly yes")
		}
	}
	return b.String()
}

// KnownHosts renders the known_hosts lines of the nodes, under their names.
func KnownHosts(hosts []SSHHost) string {
	var b strings.Builder
	for _, h := range hosts {
		for _, k := range h.Keys {
			b.WriteString(h.Name + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + "\n")
		}
	}
	return b.String()
}

// sshQuote quotes a path for ssh_config when it needs it.
func sshQuote(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}
