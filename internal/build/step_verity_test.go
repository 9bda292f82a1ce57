package build

import (
	"reflect"
	"testing"
)

func TestVeritysetupFormatArgs(t *testing.T) {
	got := veritysetupFormatArgs("/w/root.squashfs", "/w/root.verity", "ab", "u")
	want := []string{"format", "--hash=sha256", "--data-block-size=4096", "--hash-block-size=4096", "--salt=ab", "--uuid=u", "/w/root.squashfs", "/w/root.verity"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestParseRootHash(t *testing.T) {
	out := "VERITY header information for x\nUUID:            \tu\nSalt:            \taa\nRoot hash:      \t751c024505124225c8a17d6d60110262bb21bc0e72ac20e279c086c73126606b\nHash device size: \t1363968 [bytes]\n"
	h, err := parseRootHash([]byte(out))
	if err != nil || h != "751c024505124225c8a17d6d60110262bb21bc0e72ac20e279c086c73126606b" {
		t.Fatalf("got %q, %v", h, err)
	}
	if _, err := parseRootHash([]byte("Root hash: xyz\n")); err == nil {
		t.Fatal("no error for a malformed hash")
	}
}

func TestUUIDFromBytes(t *testing.T) {
	b := []byte{0x75, 0x1c, 0x02, 0x45, 0x05, 0x12, 0x42, 0x25, 0xc8, 0xa1, 0x7d, 0x6d, 0x60, 0x11, 0x02, 0x62}
	if got := uuidFromBytes(b); got != "751c0245-0512-4225-c8a1-7d6d60110262" {
		t.Fatalf("got %s", got)
	}
}
