package resource

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/coreos/ignition/v2/config/v3_6/types"
)

func TestDecodeDataURL(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  error
	}{
		{"data:,hello", "hello", nil},
		{"data:,hello%20world%0A", "hello world\n", nil},
		{"data:text/plain;charset=utf-8,a+b", "a+b", nil},
		{"data:;base64,aGVsbG8=", "hello", nil},
		{"data:text/plain;base64,aGVsbG8", "hello", nil},
		{"DATA:;BASE64,aGVs%0AbG8=", "hello", nil},
		{"data:,", "", nil},
		{"data:;base64,@@@", "", ErrDataURL},
		{"data:nocomma", "", ErrDataURL},
		{"data:,%zz", "", ErrDataURL},
		{"tftp://example.com/x", "", ErrScheme},
		{"", "", ErrScheme},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := DecodeDataURL(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func gz(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func ptr[T any](v T) *T { return &v }

func TestContents(t *testing.T) {
	const secret = "s3cr3t-value\n"
	s256 := sha256.Sum256([]byte(secret))
	s512 := sha512.Sum512([]byte(secret))
	plain := "data:," + strings.ReplaceAll(secret, "\n", "%0A")
	tests := []struct {
		name string
		r    types.Resource
		want string
		err  error
	}{
		{"no source", types.Resource{}, "", nil},
		{"plain", types.Resource{Source: ptr(plain)}, secret, nil},
		{"gzip", types.Resource{Source: ptr("data:;base64," + gz(t, secret)), Compression: ptr("gzip")}, secret, nil},
		{"sha256", types.Resource{Source: ptr(plain), Verification: types.Verification{Hash: ptr("sha256-" + hex.EncodeToString(s256[:]))}}, secret, nil},
		{"sha512 after gunzip", types.Resource{Source: ptr("data:;base64," + gz(t, secret)), Compression: ptr("gzip"),
			Verification: types.Verification{Hash: ptr("sha512-" + hex.EncodeToString(s512[:]))}}, secret, nil},
		{"wrong hash", types.Resource{Source: ptr(plain), Verification: types.Verification{Hash: ptr("sha256-" + strings.Repeat("00", 32))}}, "", ErrHash},
		{"not gzip", types.Resource{Source: ptr(plain), Compression: ptr("gzip")}, "", gzip.ErrHeader},
		{"remote", types.Resource{Source: ptr("https://example.com/" + secret)}, "", ErrScheme},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Contents(tt.r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error quotes the contents: %v", err)
			}
		})
	}
}

func TestVerifyRejectsBadHashes(t *testing.T) {
	for _, h := range []string{"md5-00", "sha256", "sha256-zz", "sha512-00"} {
		if err := Verify([]byte("x"), h); err == nil {
			t.Errorf("Verify(%q) = nil", h)
		}
	}
}

func FuzzDecodeDataURL(f *testing.F) {
	f.Add("data:,hello")
	f.Add("data:;base64,aGVsbG8=")
	f.Fuzz(func(t *testing.T, src string) {
		out, err := DecodeDataURL(src)
		if err != nil && strings.Contains(err.Error(), src) && len(src) > 8 {
			t.Fatalf("error quotes the source: %v", err)
		}
		if err == nil && len(out) > len(src) {
			t.Fatalf("decoded %d bytes from %d", len(out), len(src))
		}
	})
}
