package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size units. Every unit is binary: KiB, MiB, GiB, TiB, and the short forms K, M, G, T mean
// the same (as they do for qemu-img, sfdisk and truncate's K). Decimal-looking units (KB, MB,
// GB, TB) are refused because readers disagree on what they mean.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
)

var sizeUnits = map[string]int64{
	"B":   1,
	"KiB": KiB, "K": KiB,
	"MiB": MiB, "M": MiB,
	"GiB": GiB, "G": GiB,
	"TiB": TiB, "T": TiB,
}

var ambiguousUnits = map[string]string{
	"KB": "KiB", "kB": "KiB", "kb": "KiB", "k": "KiB", "Kb": "KiB",
	"MB": "MiB", "mb": "MiB", "Mb": "MiB",
	"GB": "GiB", "gb": "GiB", "Gb": "GiB",
	"TB": "TiB", "tb": "TiB", "Tb": "TiB",
}

// ParseSize parses a size such as 64MiB, 1GiB, 512M or 4096B into bytes. The number is a
// non-negative integer and the unit is required.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	if num == "" {
		return 0, fmt.Errorf("%w %q: expected a whole number and a unit, such as 64MiB", ErrSize, s)
	}
	if strings.HasPrefix(unit, ".") || strings.HasPrefix(unit, ",") {
		return 0, fmt.Errorf("%w %q: whole numbers only; use a smaller unit (1536MiB, not 1.5GiB)", ErrSize, s)
	}
	if unit == "" {
		return 0, fmt.Errorf("%w %q: a unit is required (B, KiB, MiB, GiB, TiB): write %sB for bytes", ErrSize, s, num)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		if bin, amb := ambiguousUnits[unit]; amb {
			return 0, fmt.Errorf("%w %q: %s is ambiguous (1000 or 1024?); write %s%s", ErrSize, s, unit, num, bin)
		}
		return 0, fmt.Errorf("%w %q: unknown unit %q (B, KiB, MiB, GiB, TiB)", ErrSize, s, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%w %q: too large", ErrSize, s)
	}
	return n * mult, nil
}

// FormatSize writes n bytes with the largest binary unit that divides it exactly.
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if n != 0 && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%dB", n)
}

// verityHashSize is the smallest hash device for a dm-verity tree over dataSize bytes with
// 4096-byte blocks and sha256 (veritysetup's defaults): the hash levels plus the superblock.
func verityHashSize(dataSize int64) int64 {
	const block, perBlock = 4096, 4096 / 32
	blocks := (dataSize + block - 1) / block
	total := int64(1) // superblock
	for blocks > 1 {
		blocks = (blocks + perBlock - 1) / perBlock
		total += blocks
	}
	return total * block
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int64) int64 {
	return (n + m - 1) / m * m
}
