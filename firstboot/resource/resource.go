// Package resource turns an Ignition resource (a file's contents, an appended fragment, a
// referenced config, a certificate authority) into bytes: it decodes data: URLs (RFC 2397,
// plain or base64), fetches https: and hash-pinned http: URLs (Fetcher), decompresses gzip
// and checks verification.hash. Errors never quote the source, a header value or the
// contents: they may hold a secret.
package resource

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6/types"
)

// MaxSize bounds the decompressed size of one resource.
const MaxSize = 256 << 20

var (
	// ErrScheme reports a source that is not a data: URL.
	ErrScheme = errors.New("only data: URLs are supported")
	// ErrDataURL reports a malformed data: URL.
	ErrDataURL = errors.New("malformed data URL")
	// ErrHash reports contents that do not match verification.hash.
	ErrHash = errors.New("hash mismatch")
	// ErrTooLarge reports contents past MaxSize.
	ErrTooLarge = errors.New("contents too large")
)

// Contents returns the bytes a resource with a data: URL stands for; a resource with no
// source is empty. Fetcher.Contents also fetches over the network.
func Contents(r types.Resource) ([]byte, error) {
	if r.Source == nil {
		return nil, nil
	}
	data, err := DecodeDataURL(*r.Source)
	if err != nil {
		return nil, err
	}
	return Decode(data, r)
}

// Decode decompresses the raw bytes of a resource as its compression says and checks them
// against its verification.hash (which is the hash of the decompressed bytes).
func Decode(data []byte, r types.Resource) ([]byte, error) {
	var err error
	if r.Compression != nil && *r.Compression != "" {
		if *r.Compression != "gzip" {
			return nil, fmt.Errorf("compression %q is not supported", *r.Compression)
		}
		if data, err = gunzip(data); err != nil {
			return nil, err
		}
	}
	if r.Verification.Hash != nil {
		if err := Verify(data, *r.Verification.Hash); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// DecodeDataURL decodes data:[<mediatype>][;base64],<data>.
func DecodeDataURL(src string) ([]byte, error) {
	scheme, rest, ok := strings.Cut(src, ":")
	if !ok || !strings.EqualFold(scheme, "data") {
		return nil, ErrScheme
	}
	header, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fmt.Errorf("%w: no comma", ErrDataURL)
	}
	params := strings.Split(header, ";")
	isBase64 := strings.EqualFold(strings.TrimSpace(params[len(params)-1]), "base64")
	raw, err := url.PathUnescape(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: bad percent-encoding", ErrDataURL)
	}
	if !isBase64 {
		return []byte(raw), nil
	}
	raw = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, raw)
	enc := base64.StdEncoding
	if !strings.HasSuffix(raw, "=") && len(raw)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	data, err := enc.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64", ErrDataURL)
	}
	return data, nil
}

func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	if len(out) > MaxSize {
		return nil, ErrTooLarge
	}
	return out, nil
}

// Verify checks data against a hash of the form sha256-<hex> or sha512-<hex>.
func Verify(data []byte, sum string) error {
	kind, want, ok := strings.Cut(sum, "-")
	if !ok {
		return errors.New("verification hash: want <type>-<hex>")
	}
	var h hash.Hash
	switch kind {
	case "sha256":
		h = sha256.New()
	case "sha512":
		h = sha512.New()
	default:
		return fmt.Errorf("hash type %q is not supported", kind)
	}
	wantBytes, err := hex.DecodeString(want)
	if err != nil || len(wantBytes) != h.Size() {
		return fmt.Errorf("verification hash: bad %s digest", kind)
	}
	h.Write(data)
	if subtle.ConstantTimeCompare(h.Sum(nil), wantBytes) != 1 {
		return fmt.Errorf("%w (%s)", ErrHash, kind)
	}
	return nil
}
