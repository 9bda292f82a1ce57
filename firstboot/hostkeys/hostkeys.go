// Package hostkeys makes a machine's SSH host keys on first boot, as ssh-keygen -A would,
// and gives their fingerprints so that they can be published: the image ships none, so no
// two machines share one.
package hostkeys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/mantlet/mantlet/firstboot/rootfs"
	"golang.org/x/crypto/ssh"
)

// Dir is where sshd looks for its host keys.
const Dir = "/etc/ssh"

// RSABits is the size of a new RSA host key (ssh-keygen's default). Tests lower it: a
// 3072-bit key takes seconds to make.
var RSABits = 3072

// Kind is one type of host key.
type Kind struct {
	Name  string // in the file name: ssh_host_<name>_key
	Label string // as ssh-keygen -l prints it: RSA, ECDSA, ED25519
	gen   func() (crypto.PrivateKey, error)
}

// Kinds are the host key types made, in ssh-keygen -A's order.
var Kinds = []Kind{
	{Name: "rsa", Label: "RSA", gen: func() (crypto.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, RSABits) }},
	{Name: "ecdsa", Label: "ECDSA", gen: func() (crypto.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
	{Name: "ed25519", Label: "ED25519", gen: func() (crypto.PrivateKey, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}},
}

// Path is the private key file of a kind.
func (k Kind) Path() string { return Dir + "/ssh_host_" + k.Name + "_key" }

// Key is a host key present on the machine.
type Key struct {
	Kind        Kind
	Fingerprint string // SHA256:<base64 without padding>, as ssh-keygen -lf prints it
}

// Ensure makes every missing host key (private key 0600, public key 0644) and returns the
// kinds it made. A private key whose public half is missing gets it back.
func Ensure(fsys *rootfs.FS, comment string) ([]Kind, error) {
	if _, err := fsys.MkdirAll(Dir, 0o755); err != nil {
		return nil, err
	}
	var made []Kind
	for _, k := range Kinds {
		_, err := fsys.Lstat(k.Path())
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := generate(fsys, k, comment); err != nil {
				return made, err
			}
			made = append(made, k)
			continue
		case err != nil:
			return made, err
		}
		if _, err := fsys.Lstat(k.Path() + ".pub"); errors.Is(err, fs.ErrNotExist) {
			signer, err := load(fsys, k)
			if err != nil {
				return made, err
			}
			if err := writePublic(fsys, k, signer.PublicKey(), comment); err != nil {
				return made, err
			}
		}
	}
	return made, nil
}

func generate(fsys *rootfs.FS, k Kind, comment string) error {
	priv, err := k.gen()
	if err != nil {
		return fmt.Errorf("generate %s host key: %w", k.Label, err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return fmt.Errorf("encode %s host key: %w", k.Label, err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return fmt.Errorf("encode %s host key: %w", k.Label, err)
	}
	// the public key first: a private key without it is repaired by the next run, the
	// other way round would look complete
	if err := writePublic(fsys, k, signer.PublicKey(), comment); err != nil {
		return err
	}
	return fsys.WriteFile(k.Path(), pem.EncodeToMemory(block), 0o600, rootfs.NoOwner)
}

func writePublic(fsys *rootfs.FS, k Kind, pub ssh.PublicKey, comment string) error {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		line += " " + comment
	}
	return fsys.WriteFile(k.Path()+".pub", []byte(line+"\n"), 0o644, rootfs.NoOwner)
}

func load(fsys *rootfs.FS, k Kind) (ssh.Signer, error) {
	b, err := fsys.ReadFile(k.Path())
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Path(), err)
	}
	return signer, nil
}

// Fingerprints lists the host keys present, from their private keys, in Kinds order.
func Fingerprints(fsys *rootfs.FS) ([]Key, error) {
	var keys []Key
	for _, k := range Kinds {
		if _, err := fsys.Lstat(k.Path()); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		signer, err := load(fsys, k)
		if err != nil {
			return keys, err
		}
		keys = append(keys, Key{Kind: k, Fingerprint: ssh.FingerprintSHA256(signer.PublicKey())})
	}
	return keys, nil
}
