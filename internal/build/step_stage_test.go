package build

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCopyEmbeddedMakesScriptsExecutable(t *testing.T) {
	dst := t.TempDir()
	if err := copyEmbedded(imageFiles, "imagefiles", dst); err != nil {
		t.Fatal(err)
	}
	for path, wantExec := range map[string]bool{
		"etc/initramfs-tools/hooks/mantlet":                true,
		"etc/initramfs-tools/scripts/local-top/mantlet":    true,
		"etc/initramfs-tools/scripts/local-bottom/mantlet": true,
		"etc/initramfs-tools/conf.d/mantlet.conf":          false,
	} {
		fi, err := os.Stat(filepath.Join(dst, path))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode()&0o111 != 0; got != wantExec {
			t.Errorf("%s: executable = %v, want %v", path, got, wantExec)
		}
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b")
	if err := writeFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(data) != "two" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("got %q %v", data, fi.Mode())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}
