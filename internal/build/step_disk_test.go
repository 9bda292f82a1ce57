package build

import (
	"strings"
	"testing"
)

func TestDiskLayout(t *testing.T) {
	v := Verity{RootHash: strings.Repeat("0f", 32), DataPartUUID: "data-uuid", HashPartUUID: "hash-uuid"}
	parts, total, guid := diskLayout(128<<20, 1<<30, 16<<20, 512<<20, v)
	type row struct {
		name, typ   string
		start, size int64
	}
	want := []row{
		{"esp", typeESP, 1 << 20, 128 << 20},
		{"root-x86-64", typeRootX86, 129 << 20, 1 << 30},
		{"root-x86-64-verity", typeRootVerity, 1153 << 20, 16 << 20},
		{"_empty", typeRootX86, 1169 << 20, 1 << 30},
		{"_empty", typeRootVerity, 2193 << 20, 16 << 20},
	}
	if len(parts) != len(want) {
		t.Fatalf("%d partitions", len(parts))
	}
	for i, w := range want {
		p := parts[i]
		if p.Index != i+1 || p.Name != w.name || p.Type != w.typ || p.Start != w.start || p.Size != w.size {
			t.Errorf("partition %d = %+v, want %+v", i+1, p, w)
		}
	}
	if parts[1].GUID != "data-uuid" || parts[2].GUID != "hash-uuid" {
		t.Errorf("root partitions must carry the UUIDs derived from the root hash: %+v", parts[1:3])
	}
	if wantTotal := int64(2209+512+1) << 20; total != wantTotal {
		t.Errorf("total = %d MiB, want %d MiB", total>>20, wantTotal>>20)
	}
	_, _, guid2 := diskLayout(128<<20, 1<<30, 16<<20, 512<<20, v)
	if guid == "" || guid != guid2 || parts[0].GUID == parts[3].GUID {
		t.Errorf("GUIDs must be stable and distinct: disk %s, esp %s, slot b %s", guid, parts[0].GUID, parts[3].GUID)
	}
	if partitionAttributes(parts[1]) != flagReadOnly || partitionAttributes(parts[3]) != flagNoAuto || partitionAttributes(parts[0]) != 0 {
		t.Error("attributes: root read-only, empty slot no-auto, ESP none")
	}
}
