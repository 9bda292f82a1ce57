package qemu

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// hostKeyLine is what the first-boot agent prints for each host key it generates, directly
// (mantlet-firstboot: ...) or through the journal (mantlet-firstboot[PID]: ...).
var hostKeyLine = regexp.MustCompile(`mantlet-firstboot(?:\[\d+\])?: host key (\S+) (SHA256:[A-Za-z0-9+/]+)`)

// HostKeyFingerprints extracts the SHA256 fingerprints ("SHA256:...") of the host keys the
// first-boot agent printed on the console, in order, without duplicates.
func HostKeyFingerprints(console string) []string {
	var fps []string
	for _, m := range hostKeyLine.FindAllStringSubmatch(console, -1) {
		if !slices.Contains(fps, m[2]) {
			fps = append(fps, m[2])
		}
	}
	return fps
}

// NewKeyPair makes a throwaway ed25519 key for a test: the signer (private key in memory only)
// and the public key as an authorized_keys line ending in comment.
func NewKeyPair(comment string) (ssh.Signer, string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate ed25519 key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, "", fmt.Errorf("ssh signer: %w", err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	if comment != "" {
		line += " " + comment
	}
	return signer, line, nil
}

// hostKeyCallback accepts a host key only when its SHA256 fingerprint is one of fps.
func hostKeyCallback(fps []string) ssh.HostKeyCallback {
	return func(host string, _ net.Addr, key ssh.PublicKey) error {
		fp := ssh.FingerprintSHA256(key)
		if slices.Contains(fps, fp) {
			return nil
		}
		return fmt.Errorf("%w: %s %s from %s, want one of %v", ErrHostKey, key.Type(), fp, host, fps)
	}
}

// SSHClient is a connection to the guest's SSH server.
type SSHClient struct {
	*ssh.Client
}

// handshakeTimeout bounds one attempt's SSH handshake; TCG guests can be slow (three of them
// on two cores, while Docker starts, took over 30 s to answer).
const handshakeTimeout = 90 * time.Second

// DialSSH connects to 127.0.0.1:port as user with signer, retrying every second until the
// guest's sshd answers, until timeout or until ctx is done. The host key must have one of the
// fingerprints ("SHA256:..."); a wrong host key fails at once, without retrying.
func DialSSH(ctx context.Context, port int, user string, signer ssh.Signer, fingerprints []string, timeout time.Duration) (*SSHClient, error) {
	if len(fingerprints) == 0 {
		return nil, fmt.Errorf("ssh 127.0.0.1:%d: no expected host key fingerprints", port)
	}
	cfg := &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeyCallback(fingerprints),
		Timeout:         handshakeTimeout,
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error // the last failure not caused by the deadline itself
	for {
		c, err := dialOnce(ctx, addr, cfg)
		if err == nil {
			return &SSHClient{Client: c}, nil
		}
		if errors.Is(err, ErrHostKey) {
			return nil, fmt.Errorf("ssh %s: %w", addr, err)
		}
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ssh %s: %w (last attempt: %w)", addr, ctx.Err(), last)
		case <-time.After(time.Second):
		}
	}
}

func dialOnce(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(handshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}

// RunResult is what a command run over SSH left behind.
type RunResult struct {
	Stdout []byte
	Stderr []byte
	Status int // exit status; -1 when the command ended without one (a signal)
}

// Run runs cmd in a new session. A non-zero exit is not an error: it is in Status. The error
// reports a broken connection or a session that could not start.
func (c *SSHClient) Run(cmd string) (RunResult, error) {
	return c.RunInput(cmd, nil)
}

// RunInput is Run with stdin read from in (nil: none).
func (c *SSHClient) RunInput(cmd string, in io.Reader) (RunResult, error) {
	s, err := c.NewSession()
	if err != nil {
		return RunResult{Status: -1}, fmt.Errorf("ssh session: %w", err)
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdin, s.Stdout, s.Stderr = in, &stdout, &stderr
	err = s.Run(cmd)
	res := RunResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Status = ee.ExitStatus()
		if ee.Signal() != "" {
			res.Status = -1
		}
	default:
		res.Status = -1
		return res, fmt.Errorf("ssh run %q: %w", cmd, err)
	}
	return res, nil
}
