package qemu

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// keyServer is an SSH server on 127.0.0.1 with the given host keys that only shakes hands
// (no client gets in); it starts listening after delay, on a port chosen now.
func keyServer(t *testing.T, delay time.Duration, keys ...ssh.Signer) int {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
		return nil, errors.New("no")
	}}
	for _, k := range keys {
		cfg.AddHostKey(k)
	}
	ready := make(chan net.Listener, 1)
	go func() {
		time.Sleep(delay)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Error(err)
			close(ready)
			return
		}
		ready <- l
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				ssh.NewServerConn(c, cfg)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		if l, ok := <-ready; ok {
			l.Close()
		}
	})
	return port
}

func hostSigners(t *testing.T) (ed, rs ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if ed, err = ssh.NewSignerFromKey(priv); err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if rs, err = ssh.NewSignerFromKey(rk); err != nil {
		t.Fatal(err)
	}
	return ed, rs
}

// The scan waits for a server that is not up yet, collects every kind of key it offers and
// checks each against the console's fingerprints.
func TestScanHostKeys(t *testing.T) {
	ed, rs := hostSigners(t)
	fps := []string{ssh.FingerprintSHA256(ed.PublicKey()), ssh.FingerprintSHA256(rs.PublicKey()), "SHA256:an-ecdsa-key-the-server-does-not-offer"}
	port := keyServer(t, 1500*time.Millisecond, ed, rs)
	keys, err := ScanHostKeys(context.Background(), port, fps, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, ssh.FingerprintSHA256(k))
	}
	if !slices.Equal(got, fps[:2]) {
		t.Errorf("scanned %v, want %v", got, fps[:2])
	}
}

// A key the console did not show is an error, whichever kind it is.
func TestScanHostKeysMismatch(t *testing.T) {
	ed, rs := hostSigners(t)
	other, _ := hostSigners(t)
	for name, fps := range map[string][]string{
		"ed25519 unknown": {ssh.FingerprintSHA256(other.PublicKey()), ssh.FingerprintSHA256(rs.PublicKey())},
		"rsa unknown":     {ssh.FingerprintSHA256(ed.PublicKey())},
	} {
		t.Run(name, func(t *testing.T) {
			port := keyServer(t, 0, ed, rs)
			_, err := ScanHostKeys(context.Background(), port, fps, time.Minute)
			if !errors.Is(err, ErrHostKey) {
				t.Fatalf("err = %v, want ErrHostKey", err)
			}
		})
	}
	if _, err := ScanHostKeys(context.Background(), 1, nil, time.Second); err == nil {
		t.Error("a scan without fingerprints succeeded")
	}
}

// Nothing answers: the scan gives up at its timeout and says why.
func TestScanHostKeysTimeout(t *testing.T) {
	port, _ := FreePort()
	_, err := ScanHostKeys(context.Background(), port, []string{"SHA256:x"}, 2*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
}
