package spec

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0B":       0,
		"4096B":    4096,
		"1KiB":     KiB,
		"64MiB":    64 * MiB,
		"1GiB":     GiB,
		"2TiB":     2 * TiB,
		"512M":     512 * MiB,
		"1G":       GiB,
		"4K":       4 * KiB,
		"1T":       TiB,
		" 33MiB ":  33 * MiB,
		"128 MiB":  128 * MiB,
		"8191TiB":  8191 * TiB,
		"1048576B": MiB,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":                      "expected a whole number and a unit",
		"MiB":                   "expected a whole number and a unit",
		"-1MiB":                 "expected a whole number and a unit",
		"1024":                  "a unit is required",
		"1GB":                   "GB is ambiguous (1000 or 1024?); write 1GiB",
		"500MB":                 "write 500MiB",
		"10kB":                  "write 10KiB",
		"1.5GiB":                "whole numbers only",
		"1,5GiB":                "whole numbers only",
		"1gib":                  "unknown unit",
		"1PiB":                  "unknown unit",
		"9999999TiB":            "too large",
		"99999999999999999999B": "too large",
	} {
		_, err := ParseSize(in)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseSize(%q): want an error with %q, got %v", in, msg, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1: "1B", 4096: "4KiB", 33 * MiB: "33MiB", GiB + MiB: "1025MiB", 3 * TiB: "3TiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestVerityHashSize(t *testing.T) {
	// 1GiB: 262144 data blocks -> 2048 + 16 + 1 hash blocks + the superblock.
	if got, want := verityHashSize(GiB), int64(2048+16+1+1)*4096; got != want {
		t.Errorf("verityHashSize(1GiB) = %d, want %d", got, want)
	}
	// The default, root/64, is always enough.
	for _, root := range []int64{64 * MiB, GiB, 10 * GiB, TiB} {
		if d := roundUp(root/64, MiB); d < verityHashSize(root) {
			t.Errorf("root/64 for %s is %d, less than %d", FormatSize(root), d, verityHashSize(root))
		}
	}
}

func TestParseFormats(t *testing.T) {
	for in, want := range map[string]string{
		"raw":           "raw",
		"raw,qcow2":     "raw qcow2",
		" vmdk , vhd ":  "vmdk vhd",
		"qcow2,raw,vhd": "qcow2 raw vhd",
	} {
		got, err := ParseFormats(in)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("ParseFormats(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, msgs := range map[string][]string{
		"":                {"--format: at least one format is required"},
		"iso":             {`--format[0]: "iso" is not a format (raw, qcow2, vmdk, vhd)`},
		"raw,raw":         {`--format[1]: "raw" is already at [0]`},
		"raw,,qcow2":      {`--format[1]: "" is not a format`},
		"iso,raw,img,raw": {`--format[0]: "iso"`, `--format[2]: "img"`, `--format[3]: "raw" is already at [1]`},
	} {
		_, err := ParseFormats(in)
		if err == nil {
			t.Errorf("ParseFormats(%q): want an error", in)
			continue
		}
		for _, m := range msgs {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("ParseFormats(%q) = %v; want %q", in, err, m)
			}
		}
	}
}

func TestSetFormats(t *testing.T) {
	p := &Plan{Formats: []string{"raw", "qcow2"}}
	if err := p.SetFormats("vmdk,bogus"); err == nil || strings.Join(p.Formats, ",") != "raw,qcow2" {
		t.Fatalf("bad list: err %v, formats %v (want an error and no change)", err, p.Formats)
	}
	if err := p.SetFormats("vhd"); err != nil || strings.Join(p.Formats, ",") != "vhd" {
		t.Fatalf("err %v, formats %v", err, p.Formats)
	}
}
