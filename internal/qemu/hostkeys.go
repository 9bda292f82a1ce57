package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// scanAlgorithms are the host key algorithms a scan asks for, one handshake each: every
// kind of key the first-boot agent makes.
var scanAlgorithms = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoECDSA256}

// errScanned ends a scan's handshake once the server has shown its key.
var errScanned = errors.New("host key seen")

// ScanHostKeys asks the SSH server on 127.0.0.1:port for its host keys, as ssh-keyscan
// does (one handshake per key kind, no authentication), retrying until the server answers,
// until timeout or until ctx is done. Every key it offers must have one of the fingerprints
// ("SHA256:...") the node printed on its console; one that does not is an ErrHostKey.
func ScanHostKeys(ctx context.Context, port int, fingerprints []string, timeout time.Duration) ([]ssh.PublicKey, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if len(fingerprints) == 0 {
		return nil, fmt.Errorf("ssh %s: no host key fingerprints on the console to check the keys against", addr)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var keys []ssh.PublicKey
	for i, alg := range scanAlgorithms {
		var key ssh.PublicKey
		var err error
		for {
			key, err = scanOnce(ctx, addr, alg)
			// The first kind waits for the server; later ones ask a server that answered.
			if err == nil || i > 0 || notOffered(err) || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		switch {
		case err == nil:
		case notOffered(err):
			continue
		case ctx.Err() != nil:
			return nil, fmt.Errorf("ssh %s: no host key in %s: %w (last attempt: %w)", addr, timeout, ctx.Err(), err)
		default:
			return nil, fmt.Errorf("ssh %s: %s host key: %w", addr, alg, err)
		}
		fp := ssh.FingerprintSHA256(key)
		if !slices.Contains(fingerprints, fp) {
			return nil, fmt.Errorf("ssh %s: %w: %s %s, the console shows %v", addr, ErrHostKey, key.Type(), fp, fingerprints)
		}
		if !slices.ContainsFunc(keys, func(k ssh.PublicKey) bool { return ssh.FingerprintSHA256(k) == fp }) {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("ssh %s: offers none of the host key algorithms %v", addr, scanAlgorithms)
	}
	return keys, nil
}

// notOffered reports a handshake that failed because the server has no key of the kind.
func notOffered(err error) bool {
	return strings.Contains(err.Error(), "no common algorithm for host key")
}

func scanOnce(ctx context.Context, addr, alg string) (ssh.PublicKey, error) {
	var seen ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              "mantlet-keyscan",
		HostKeyAlgorithms: []string{alg},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			seen = key
			return errScanned
		},
		Timeout: handshakeTimeout,
	}
	c, err := dialOnce(ctx, addr, cfg)
	if c != nil {
		c.Close()
	}
	if seen != nil {
		return seen, nil
	}
	if err == nil {
		err = errors.New("handshake ended without a host key")
	}
	return nil, err
}
