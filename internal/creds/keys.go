package creds

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
)

// Keys open a store: a passphrase (stores encrypted to one) or age identities (stores
// encrypted to recipients).
type Keys struct {
	Passphrase string
	Identities []age.Identity
}

// ScryptWorkFactor is the log2 scrypt cost for passphrase stores (age's default, about a
// second); tests lower it.
var ScryptWorkFactor = 18

// ReadIdentities reads an age identity file (AGE-SECRET-KEY-1... lines). Errors never
// quote the file.
func ReadIdentities(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: not an age identity file", path)
	}
	return ids, nil
}

// parseRecipients parses age public keys with age's own parser: X25519 (age1...) and
// post-quantum hybrid (age1pq1...) recipients, so that a store opened by an
// AGE-SECRET-KEY-PQ-1 identity can be encrypted to its recipient. Recipients age cannot
// encrypt to together (hybrid and classic ones mixed) are refused here too.
func parseRecipients(rs []string) ([]age.Recipient, error) {
	var out []age.Recipient
	var errs []error
	for i, r := range rs {
		r = strings.TrimSpace(r)
		parsed, err := age.ParseRecipients(strings.NewReader(r))
		if err != nil || len(parsed) != 1 || strings.ContainsAny(r, "\n#") {
			errs = append(errs, fmt.Errorf("%w: recipient %d: not an age public key (age1... or age1pq1...)", ErrInvalid, i+1))
			continue
		}
		out = append(out, parsed[0])
	}
	if len(errs) == 0 && len(out) > 0 {
		if _, err := age.Encrypt(io.Discard, out...); err != nil {
			errs = append(errs, fmt.Errorf("%w: recipients: %v (post-quantum age1pq1 keys cannot be mixed with age1 keys)", ErrInvalid, err))
		}
	}
	return out, errors.Join(errs...)
}

func encrypt(plain []byte, recipients []string, k Keys) ([]byte, error) {
	var rs []age.Recipient
	if len(recipients) > 0 {
		var err error
		if rs, err = parseRecipients(recipients); err != nil {
			return nil, err
		}
	} else {
		if k.Passphrase == "" {
			return nil, ErrNoKeys
		}
		r, err := age.NewScryptRecipient(k.Passphrase)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		r.SetWorkFactor(ScryptWorkFactor)
		rs = []age.Recipient{r}
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	return buf.Bytes(), nil
}

func decrypt(raw []byte, recipients []string, k Keys) ([]byte, error) {
	ids := k.Identities
	if len(recipients) == 0 {
		if k.Passphrase == "" {
			return nil, ErrNoKeys
		}
		id, err := age.NewScryptIdentity(k.Passphrase)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		ids = []age.Identity{id}
	} else if len(ids) == 0 {
		return nil, fmt.Errorf("%w: the store is encrypted to age recipients, give an identity file", ErrNoKeys)
	}
	r, err := age.Decrypt(bytes.NewReader(raw), ids...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrDecrypt, SecretsFile)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is truncated or was changed", ErrDecrypt, SecretsFile)
	}
	return plain, nil
}
