package build

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
)

// The EFI system partition is part of the reproducibility promise: writing the same UKI twice,
// at different times, must give the same bytes.
func TestESPIsReproducible(t *testing.T) {
	dir := t.TempDir()
	uki := filepath.Join(dir, "uki.efi")
	if err := os.WriteFile(uki, bytes.Repeat([]byte("MZ uki "), 50000), 0o644); err != nil {
		t.Fatal(err)
	}
	before, hadBefore := os.LookupEnv("SOURCE_DATE_EPOCH")
	var images [][]byte
	for i := 0; i < 2; i++ {
		raw := filepath.Join(dir, "disk"+string(rune('a'+i))+".raw")
		d, err := diskfs.Create(raw, 40<<20, diskfs.SectorSize(sector))
		if err != nil {
			t.Fatal(err)
		}
		parts := []PartitionInfo{{Index: 1, Name: "esp", Type: typeESP, GUID: "11111111-2222-3333-4444-555555555555", Start: 1 << 20, Size: 36 << 20}}
		if err := partitionDisk(d, parts, "66666666-7777-8888-9999-000000000000", uki, 1735689600); err != nil {
			t.Fatal(err)
		}
		d.Close()
		data, err := os.ReadFile(raw)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, data)
		time.Sleep(2100 * time.Millisecond) // FAT timestamps have a 2 s resolution
	}
	if !bytes.Equal(images[0], images[1]) {
		for i := range images[0] {
			if images[0][i] != images[1][i] {
				t.Fatalf("the two disks differ first at byte %d (%#x)", i, i)
			}
		}
	}
	if after, had := os.LookupEnv("SOURCE_DATE_EPOCH"); had != hadBefore || after != before {
		t.Error("SOURCE_DATE_EPOCH in the environment changed by the disk step")
	}
}
