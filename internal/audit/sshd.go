package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/mantlet/mantlet/firstboot/rootfs"
	"github.com/mantlet/mantlet/internal/command"
)

// Modern algorithms: what the sshd of an image may offer.
var (
	modernCiphers = set("chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
		"aes256-ctr", "aes192-ctr", "aes128-ctr")
	modernKex = set("sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com", "mlkem768x25519-sha256",
		"curve25519-sha256", "curve25519-sha256@libssh.org",
		"diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512")
	modernMACs = set("hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com")
)

func set(items ...string) map[string]bool {
	m := map[string]bool{}
	for _, i := range items {
		m[i] = true
	}
	return m
}

// sshdRequired are settings of sshd -T that must have exactly this value.
var sshdRequired = []struct{ key, want string }{
	{"permitrootlogin", "no"},
	{"passwordauthentication", "no"},
	{"kbdinteractiveauthentication", "no"},
	{"permitemptypasswords", "no"},
	{"x11forwarding", "no"},
	{"allowtcpforwarding", "no"},
	{"allowagentforwarding", "no"},
	{"pubkeyauthentication", "yes"},
}

// CheckSSHD judges the effective configuration printed by sshd -T.
func CheckSSHD(out []byte) []Finding {
	cfg := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if k != "" {
			if _, dup := cfg[k]; !dup {
				cfg[k] = strings.TrimSpace(v)
			}
		}
	}
	var fs []Finding
	bad := func(subject, format string, a ...any) {
		fs = append(fs, Finding{Check: "sshd", Subject: subject, Msg: fmt.Sprintf(format, a...)})
	}
	if len(cfg) == 0 {
		return []Finding{{Check: "sshd", Subject: "sshd -T", Msg: "printed no configuration"}}
	}
	for _, r := range sshdRequired {
		if got, ok := cfg[r.key]; !ok || got != r.want {
			bad(r.key, "is %q, want %q", got, r.want)
		}
	}
	if n, err := strconv.Atoi(cfg["maxauthtries"]); err != nil || n > 3 {
		bad("maxauthtries", "is %q, want at most 3", cfg["maxauthtries"])
	}
	if b := cfg["banner"]; b == "" || b == "none" {
		bad("banner", "is not set")
	}
	for _, l := range []struct {
		key    string
		modern map[string]bool
	}{{"ciphers", modernCiphers}, {"kexalgorithms", modernKex}, {"macs", modernMACs}} {
		v, ok := cfg[l.key]
		if !ok {
			bad(l.key, "not in the sshd -T output")
			continue
		}
		var weak []string
		for _, a := range strings.Split(v, ",") {
			if a != "" && !l.modern[a] {
				weak = append(weak, a)
			}
		}
		if len(weak) > 0 {
			bad(l.key, "offers %s", strings.Join(weak, ","))
		}
	}
	return fs
}

// sshdEffective runs the image's own sshd -T in root, chrooted, with a throwaway host key
// (the image has none: they are made on first boot). root must be writable; what is written
// there is removed again.
func sshdEffective(ctx context.Context, r command.Runner, root string) ([]byte, error) {
	im, err := openImage(root)
	if err != nil {
		return nil, fmt.Errorf("sshd -T: %w", err)
	}
	defer im.close()
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	// Make what is missing, and remove only that again; inside the image even when its /run
	// is a symlink.
	for _, dir := range []string{"/run", "/run/sshd"} {
		if !im.exists(dir) {
			rel, err := im.fs.MkdirAll(dir, 0o755)
			if err != nil {
				return nil, fmt.Errorf("sshd -T: %w", err)
			}
			cleanups = append(cleanups, func() { im.fs.Root().Remove(rel) })
		}
	}
	name := fmt.Sprintf("/run/mantlet-audit-%d", os.Getpid())
	rel, err := im.fs.MkdirAll(name, 0o700)
	if err != nil {
		return nil, fmt.Errorf("sshd -T: %w", err)
	}
	cleanups = append(cleanups, func() { im.fs.Root().RemoveAll(rel) })
	if err := writeHostKey(im, name+"/host_key"); err != nil {
		return nil, err
	}
	return r.Run(ctx, command.Cmd{Name: "chroot", Args: sshdArgs(root, name+"/host_key")})
}

// sshdArgs prints the effective configuration of the sshd in root, as chroot arguments.
func sshdArgs(root, hostKey string) []string {
	return []string{root, "/usr/sbin/sshd", "-T", "-h", hostKey}
}

func writeHostKey(im *image, path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "mantlet audit")
	if err != nil {
		return err
	}
	return im.fs.WriteFile(path, pem.EncodeToMemory(block), 0o600, rootfs.NoOwner)
}
