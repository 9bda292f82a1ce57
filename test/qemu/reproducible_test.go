//go:build qemu

package qemu_test

import (
	"path/filepath"
	"testing"
)

// TestReproducibleBuild builds the default image a second time from the same inputs (same
// image definition, same SOURCE_DATE_EPOCH, the same package versions from the cache) and
// compares the parts that must be identical byte for byte.
func TestReproducibleBuild(t *testing.T) {
	a := defaultBuild(t)
	b, err := buildImage(t, "b")
	if err != nil {
		t.Fatalf("second build: %v", err)
	}
	if !samePackages(a, b) {
		t.Skip("the mirror moved on between the two builds (package versions differ): not the same inputs")
	}
	if a.state.Verity.RootHash != b.state.Verity.RootHash {
		t.Errorf("verity root hash differs: %s vs %s", a.state.Verity.RootHash, b.state.Verity.RootHash)
	}
	rawA, rawB := a.output(t, "raw"), b.output(t, "raw")
	for _, p := range a.state.Partitions {
		same, err := sameRange(rawA, rawB, p.Start, p.Size)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("partition %d %-19s identical: %v", p.Index, p.Name, same)
		if !same && (p.Name == "root-x86-64" || p.Name == "root-x86-64-verity" || p.Name == "esp") {
			t.Errorf("partition %s differs between the builds", p.Name)
		}
	}
	ukiSame, err := sameRange(filepath.Join(a.out, "node.efi"), filepath.Join(b.out, "node.efi"), 0, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	if !ukiSame {
		t.Error("the UKI differs between the builds")
	}
	whole, err := sameRange(rawA, rawB, 0, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("REPRODUCIBILITY: root image identical, verity root hash %s identical, UKI identical: %v; whole raw disk identical: %v",
		a.state.Verity.RootHash, ukiSame, whole)
	if !whole {
		t.Error("the whole raw disk differs although every partition is expected to match")
	}
}

func samePackages(a, b *built) bool {
	pa, pb := a.state.Packages, b.state.Packages
	if len(pa) != len(pb) {
		return false
	}
	for i := range pa {
		if pa[i] != pb[i] {
			return false
		}
	}
	return true
}
