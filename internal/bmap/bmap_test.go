package bmap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// image makes a sparse file of size with data written at the offsets given.
func image(t *testing.T, size int64, data map[int64][]byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off, b := range data {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	return p
}

func TestRangesFollowContent(t *testing.T) {
	p := image(t, 64<<20, map[int64][]byte{
		0:        bytes.Repeat([]byte{1}, 8192), // blocks 0-1
		3 * 4096: {9},                           // block 3
		// Written zeros are no data: the map depends on content, not on allocation.
		10 << 20:          make([]byte, 1<<20),
		(64 << 20) - 4096: bytes.Repeat([]byte{2}, 4096), // the last block
	})
	m, err := Compute(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	blk3 := make([]byte, 4096)
	blk3[0] = 9
	want := []Range{
		{0, 1, sum(bytes.Repeat([]byte{1}, 8192))},
		{3, 3, sum(blk3)},
		{16383, 16383, sum(bytes.Repeat([]byte{2}, 4096))},
	}
	if len(m.Ranges) != len(want) {
		t.Fatalf("ranges: %+v", m.Ranges)
	}
	for i := range want {
		if m.Ranges[i] != want[i] {
			t.Errorf("range %d: %+v, want %+v", i, m.Ranges[i], want[i])
		}
	}
	if m.Mapped() != 4 || m.ImageSize != 64<<20 {
		t.Errorf("mapped %d of %d", m.Mapped(), m.ImageSize)
	}
	// A copy without holes has the same map.
	full := filepath.Join(t.TempDir(), "disk.raw")
	if out, err := exec.Command("cp", "--sparse=never", p, full).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m2, err := Compute(full)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Marshal("disk.raw"), m2.Marshal("disk.raw")) {
		t.Error("the map of a fully allocated copy differs")
	}
}

func TestVerify(t *testing.T) {
	p := image(t, 8<<20, map[int64][]byte{4096: []byte("data"), 5 << 20: []byte("more")})
	m, err := Compute(p)
	if err != nil {
		t.Fatal(err)
	}
	data := m.Marshal("disk.raw")
	if err := Verify(p, data); err != nil {
		t.Fatalf("intact image: %v", err)
	}
	for name, spoil := range map[string]func(f *os.File){
		"byte in a range": func(f *os.File) { f.WriteAt([]byte("D"), 4096) },
		"byte in a hole":  func(f *os.File) { f.WriteAt([]byte{1}, 7<<20) },
		"grown":           func(f *os.File) { f.Truncate(9 << 20) },
	} {
		t.Run(name, func(t *testing.T) {
			q := image(t, 8<<20, map[int64][]byte{4096: []byte("data"), 5 << 20: []byte("more")})
			f, _ := os.OpenFile(q, os.O_RDWR, 0)
			spoil(f)
			f.Close()
			if err := Verify(q, data); err == nil {
				t.Fatal("a changed image verifies")
			}
		})
	}
}

// TestBmaptool has bmaptool itself check the map while it copies the image, and refuse it
// when a block was changed.
func TestBmaptool(t *testing.T) {
	if _, err := exec.LookPath("bmaptool"); err != nil {
		t.Skip("bmaptool not installed (bmap-tools; make deps installs it)")
	}
	p := image(t, 16<<20, map[int64][]byte{0: bytes.Repeat([]byte("gpt!"), 1024), 1 << 20: bytes.Repeat([]byte{7}, 3<<20)})
	m, err := Compute(p)
	if err != nil {
		t.Fatal(err)
	}
	bm := p + ".bmap"
	os.WriteFile(bm, m.Marshal(filepath.Base(p)), 0o644)
	dst := filepath.Join(t.TempDir(), "copy.raw")
	if out, err := exec.Command("bmaptool", "copy", "--bmap", bm, p, dst).CombinedOutput(); err != nil {
		t.Fatalf("bmaptool copy: %v: %s", err, out)
	}
	a, _ := os.ReadFile(p)
	b, _ := os.ReadFile(dst)
	if !bytes.Equal(a, b) {
		t.Fatal("bmaptool's copy differs from the image")
	}
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	f.WriteAt([]byte{8}, 2<<20)
	f.Close()
	out, err := exec.Command("bmaptool", "copy", "--bmap", bm, p, filepath.Join(t.TempDir(), "bad.raw")).CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(out)), "checksum") {
		t.Fatalf("bmaptool accepted a changed block: %v: %s", err, out)
	}
}
