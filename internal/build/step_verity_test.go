package build

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/command"
)

func TestVeritysetupFormatArgs(t *testing.T) {
	got := veritysetupFormatArgs("/w/root.squashfs", "/w/root.verity", "/w/root.roothash", "ab", "u")
	want := []string{"format", "--hash=sha256", "--data-block-size=4096", "--hash-block-size=4096", "--salt=ab", "--uuid=u",
		"--root-hash-file=/w/root.roothash", "/w/root.squashfs", "/w/root.verity"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestParseRootHash(t *testing.T) {
	for _, in := range []string{"751c024505124225c8a17d6d60110262bb21bc0e72ac20e279c086c73126606b", "751c024505124225c8a17d6d60110262bb21bc0e72ac20e279c086c73126606b\n"} {
		h, err := parseRootHash([]byte(in))
		if err != nil || h != "751c024505124225c8a17d6d60110262bb21bc0e72ac20e279c086c73126606b" {
			t.Fatalf("%q: got %q, %v", in, h, err)
		}
	}
	for _, bad := range []string{"", "xyz", "Root hash: 751c024505124225c8a17d6d60110262bb21bc0e72ac20e279c086c73126606b", "751C024505124225c8a17d6d60110262bb21bc0e72ac20e279c086c73126606b"} {
		if _, err := parseRootHash([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestVerityStepRealVeritysetup runs the step with the real veritysetup and checks its root
// hash against veritysetup verify of the same image.
func TestVerityStepRealVeritysetup(t *testing.T) {
	if _, err := exec.LookPath("veritysetup"); err != nil {
		t.Skip("veritysetup not installed (Debian package cryptsetup-bin; make deps)")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "root.squashfs")
	if err := os.WriteFile(img, []byte(strings.Repeat("mantlet!", 4096/8*64)), 0o644); err != nil {
		t.Fatal(err)
	}
	st := &State{Plan: testPlan(), Opts: Options{Runner: command.Exec{}}, WorkDir: dir, RootImage: img}
	if err := (&stepVerity{}).Run(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("veritysetup", "verify", img, st.HashImage, st.Verity.RootHash).CombinedOutput(); err != nil {
		t.Fatalf("veritysetup verify with the step's root hash %s: %v\n%s", st.Verity.RootHash, err, out)
	}
	if !strings.HasPrefix(st.Verity.RootHash, strings.ReplaceAll(st.Verity.DataPartUUID, "-", "")) {
		t.Errorf("data PARTUUID %s is not the start of the root hash %s", st.Verity.DataPartUUID, st.Verity.RootHash)
	}
}

func TestUUIDFromBytes(t *testing.T) {
	b := []byte{0x75, 0x1c, 0x02, 0x45, 0x05, 0x12, 0x42, 0x25, 0xc8, 0xa1, 0x7d, 0x6d, 0x60, 0x11, 0x02, 0x62}
	if got := uuidFromBytes(b); got != "751c0245-0512-4225-c8a1-7d6d60110262" {
		t.Fatalf("got %s", got)
	}
}
