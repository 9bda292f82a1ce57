package qemu

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestHostKeyFingerprints(t *testing.T) {
	con := "[ 5.1] mantlet-firstboot[402]: host key ED25519 SHA256:2vJ8Zc5x0qS1m0Zq3XbJf1o9mK3Yw2qJv6S0nq1H7aE\r\n" +
		"mantlet-firstboot: host key ECDSA SHA256:p8mV+3d/Qa0Zf7Yw3c1kL2nB9xT4rS6uE0hJ5gW1iKo\r\n" +
		"mantlet-firstboot: host key ED25519 SHA256:2vJ8Zc5x0qS1m0Zq3XbJf1o9mK3Yw2qJv6S0nq1H7aE\r\n" +
		"sshd: host key ED25519 SHA256:notOurs\r\n"
	got := HostKeyFingerprints(con)
	want := []string{"SHA256:2vJ8Zc5x0qS1m0Zq3XbJf1o9mK3Yw2qJv6S0nq1H7aE", "SHA256:p8mV+3d/Qa0Zf7Yw3c1kL2nB9xT4rS6uE0hJ5gW1iKo"}
	if !slices.Equal(got, want) {
		t.Errorf("HostKeyFingerprints = %q, want %q", got, want)
	}
	if got := HostKeyFingerprints("no keys here"); got != nil {
		t.Errorf("HostKeyFingerprints(none) = %q", got)
	}
}

func TestNewKeyPair(t *testing.T) {
	signer, line, err := NewKeyPair("mantlet-test")
	if err != nil {
		t.Fatal(err)
	}
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil || comment != "mantlet-test" || pub.Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("authorized_keys line %q: %v, comment %q", line, err, comment)
	}
	if !bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
		t.Error("public key does not match the signer")
	}
}

// sshServer is a minimal SSH server on 127.0.0.1 that accepts one client key and answers
// "exec" requests: "echo X" prints X, "fail N" prints to stderr and exits 3.
func sshServer(t *testing.T, hostKey ssh.Signer, client ssh.PublicKey) int {
	t.Helper()
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), client.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	cfg.AddHostKey(hostKey)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serveSSH(c, cfg)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func serveSSH(c net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for r := range creqs {
				if r.Type != "exec" {
					r.Reply(false, nil)
					continue
				}
				r.Reply(true, nil)
				cmd := string(r.Payload[4:])
				status := uint32(0)
				if arg, ok := strings.CutPrefix(cmd, "echo "); ok {
					ch.Write([]byte(arg + "\n"))
				} else {
					ch.Stderr().Write([]byte("failed\n"))
					status = 3
				}
				ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
				return
			}
		}()
	}
}

func TestDialSSHAndRun(t *testing.T) {
	hostKey, _, err := NewKeyPair("")
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := NewKeyPair("")
	if err != nil {
		t.Fatal(err)
	}
	port := sshServer(t, hostKey, signer.PublicKey())
	ctx := context.Background()
	c, err := DialSSH(ctx, port, "admin", signer, []string{"SHA256:other", ssh.FingerprintSHA256(hostKey.PublicKey())}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Run("echo hello")
	if err != nil || string(res.Stdout) != "hello\n" || res.Status != 0 {
		t.Fatalf("Run(echo) = %+v, %v", res, err)
	}
	res, err = c.Run("fail")
	if err != nil || string(res.Stderr) != "failed\n" || res.Status != 3 {
		t.Fatalf("Run(fail) = %+v, %v; want status 3 and no error", res, err)
	}
}

func TestDialSSHRefusesAnUnexpectedHostKeyAtOnce(t *testing.T) {
	hostKey, _, _ := NewKeyPair("")
	signer, _, _ := NewKeyPair("")
	port := sshServer(t, hostKey, signer.PublicKey())
	start := time.Now()
	_, err := DialSSH(context.Background(), port, "admin", signer, []string{"SHA256:2vJ8Zc5x0qS1m0Zq3XbJf1o9mK3Yw2qJv6S0nq1H7aE"}, 30*time.Second)
	if !errors.Is(err, ErrHostKey) {
		t.Fatalf("err = %v, want ErrHostKey", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("a wrong host key was retried")
	}
}

func TestDialSSHRetriesUntilTheDeadline(t *testing.T) {
	signer, _, _ := NewKeyPair("")
	port, err := FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	_, err = DialSSH(context.Background(), port, "admin", signer, []string{"SHA256:x"}, 2*time.Second)
	// The last attempt is usually refused, but on a loaded machine the deadline may cut it
	// short: either way the error says what the last attempt met.
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last attempt: dial tcp") {
		t.Fatalf("err = %v, want the deadline and the last attempt's error", err)
	}
	if _, err := DialSSH(context.Background(), port, "admin", signer, nil, time.Second); err == nil {
		t.Fatal("DialSSH without fingerprints succeeded")
	}
}
