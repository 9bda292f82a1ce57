package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// baseImage is a valid image definition, one top-level field per entry.
var baseImage = []struct{ key, text string }{
	{"name", "name: t\n"},
	{"release", "release: bookworm\n"},
	{"suites", "suites: [bookworm, bookworm-security]\n"},
	{"components", "components: [main]\n"},
	{"architecture", "architecture: amd64\n"},
	{"source_date_epoch", "source_date_epoch: 1735689600\n"},
	{"kernel", "kernel:\n  package: linux-image-amd64\n  cmdline: [console=ttyS0]\n  initrd_modules: [virtio_blk]\n"},
	{"packages", "packages: [systemd]\n"},
	{"rootfs", "rootfs:\n  type: erofs\n  compression: lz4hc\n  exclude: [/usr/share/doc/*]\n"},
	{"disk", "disk:\n  esp_size: 64MiB\n  root_size: 256MiB\n"},
	{"formats", "formats: [raw]\n"},
}

// imageWith is baseImage without the field key, and snippet at its end. It returns the YAML
// and the line the snippet starts on.
func imageWith(key, snippet string) (string, int) {
	var b strings.Builder
	for _, f := range baseImage {
		if f.key != key {
			b.WriteString(f.text)
		}
	}
	return b.String() + snippet, strings.Count(b.String(), "\n") + 1
}

// findProblem reports whether es has a problem at path, on line (when > 0), containing msg.
func findProblem(es Errors, path string, line int, msg string) bool {
	for _, e := range es {
		if e.Path == path && (line == 0 || e.Line == line) && strings.Contains(e.Msg, msg) {
			return true
		}
	}
	return false
}

func validateImageYAML(t *testing.T, doc string) (warns, errs Errors) {
	t.Helper()
	_, _, warns, errs = checkImage("t.yaml", []byte(doc))
	return warns, errs
}

func TestBaseImageValid(t *testing.T) {
	doc, _ := imageWith("", "")
	warns, errs := validateImageYAML(t, doc)
	if len(warns)+len(errs) > 0 {
		t.Fatalf("base image: warnings %v, errors %v", warns, errs)
	}
}

func TestValidateImage(t *testing.T) {
	for _, tc := range []struct {
		name, key, snippet string
		path               string
		line               int // relative to the snippet: 1 is its first line; 0 to skip
		msg                string
		warn               bool
	}{
		{"unknown field", "", "componets: [main]\n", "componets", 1, `unknown field "componets" (did you mean "components"?)`, false},
		{"unknown nested", "kernel", "kernel:\n  package: linux-image-amd64\n  initrd: [x]\n", "kernel.initrd", 3, "unknown field", false},
		{"field twice", "", "name: u\n", "name", 1, "field set twice (first at line 1)", false},
		{"list for string", "name", "name: [a]\n", "name", 1, "expected a string", false},
		{"string for list", "suites", "suites: bookworm\n", "suites", 1, "expected a list", false},
		{"epoch not integer", "source_date_epoch", "source_date_epoch: soon\n", "source_date_epoch", 1, "expected an integer", false},
		{"name missing", "name", "", "name", 0, "required", false},
		{"name unsafe", "name", "name: ../x\n", "name", 1, "not a safe name", false},
		{"name upper", "name", "name: Node\n", "name", 1, "not a safe name", false},
		{"release unknown", "release", "release: buster\n", "release", 1, "not a supported Debian release (bookworm)", false},
		{"release missing", "release", "", "release", 0, "required", false},
		{"suites empty", "suites", "suites: []\n", "suites", 1, "at least one suite", false},
		{"suite foreign", "suites", "suites: [bookworm, trixie]\n", "suites[1]", 1, `"trixie" is not a suite of bookworm`, false},
		{"suite twice", "suites", "suites: [bookworm, bookworm]\n", "suites[1]", 1, "already at suites[0]", false},
		{"suite release missing", "suites", "suites:\n  - bookworm-updates\n", "suites", 1, `the release suite "bookworm" is missing`, false},
		{"component unknown", "components", "components: [main, universe]\n", "components[1]", 1, "not a Debian component", false},
		{"component twice", "components", "components: [main, main]\n", "components[1]", 1, "listed twice", false},
		{"architecture", "architecture", "architecture: arm64\n", "architecture", 1, "not supported (amd64)", false},
		{"mirror without debian", "", "mirror:\n  security: http://mirror.example/s\n", "mirror.debian", 1, "required when mirror is set", false},
		{"mirror scheme", "", "mirror:\n  debian: ftp://mirror.example/debian\n", "mirror.debian", 2, "http or https", false},
		{"mirror no host", "", "mirror:\n  debian: http:///debian\n", "mirror.debian", 2, "no host", false},
		{"mirror userinfo", "", "mirror:\n  debian: https://u:p@mirror.example/debian\n", "mirror.debian", 2, "credentials in the URL", false},
		{"mirror query", "", "mirror:\n  debian: http://mirror.example/debian?x=1\n", "mirror.debian", 2, "has a query", false},
		{"mirror space", "", "mirror:\n  debian: http://mirror.example/a b\n", "mirror.debian", 2, "whitespace", false},
		{"security mirror", "", "mirror:\n  debian: http://mirror.example/debian\n  security: mirror.example\n", "mirror.security", 3, "http or https", false},
		{"epoch zero", "source_date_epoch", "source_date_epoch: 0\n", "source_date_epoch", 1, "required (or SOURCE_DATE_EPOCH in the environment): a positive number", false},
		{"epoch missing", "source_date_epoch", "", "source_date_epoch", 0, "required", false},
		{"epoch future", "source_date_epoch", "source_date_epoch: 4102444800\n", "source_date_epoch", 1, "in the future", false},
		{"kernel package missing", "kernel", "kernel:\n  cmdline: [quiet]\n", "kernel.package", 1, "required", false},
		{"kernel package invalid", "kernel", "kernel:\n  package: Linux_Image\n", "kernel.package", 2, "not a Debian package name", false},
		{"cmdline space", "kernel", "kernel:\n  package: linux-image-amd64\n  cmdline: [\"quiet splash\"]\n", "kernel.cmdline[0]", 3, "whitespace or quotes", false},
		{"cmdline quote", "kernel", "kernel:\n  package: linux-image-amd64\n  cmdline:\n    - quiet\n    - 'a=\"b\"'\n", "kernel.cmdline[1]", 5, "whitespace or quotes", false},
		{"cmdline root", "kernel", "kernel:\n  package: linux-image-amd64\n  cmdline: [root=/dev/sda2]\n", "kernel.cmdline[0]", 3, "root= is set by the build", false},
		{"cmdline roothash", "kernel", "kernel:\n  package: linux-image-amd64\n  cmdline: [roothash=ab12]\n", "kernel.cmdline[0]", 3, "roothash= is set by the build", false},
		{"cmdline mantlet.verity", "kernel", "kernel:\n  package: linux-image-amd64\n  cmdline: [mantlet.verity=x]\n", "kernel.cmdline[0]", 3, "mantlet.verity= is set by the build", false},
		{"cmdline empty", "kernel", "kernel:\n  package: linux-image-amd64\n  cmdline: [\"\"]\n", "kernel.cmdline[0]", 3, "empty argument", false},
		{"cmdline twice", "kernel", "kernel:\n  package: linux-image-amd64\n  cmdline: [quiet, quiet]\n", "kernel.cmdline[1]", 3, "already at kernel.cmdline[0]", true},
		{"module invalid", "kernel", "kernel:\n  package: linux-image-amd64\n  initrd_modules:\n    - virtio_blk\n    - ext4.ko/x\n", "kernel.initrd_modules[1]", 5, "not a kernel module name", false},
		{"module twice", "kernel", "kernel:\n  package: linux-image-amd64\n  initrd_modules: [dm-verity, dm_verity]\n", "kernel.initrd_modules[1]", 3, "already at", true},
		{"package invalid", "packages", "packages:\n  - systemd\n  - Foo\n", "packages[1]", 3, "not a Debian package name", false},
		{"package short", "packages", "packages: [a]\n", "packages[0]", 1, "not a Debian package name", false},
		{"package arch-qualified", "packages", "packages: [\"libc6:i386\"]\n", "packages[0]", 1, "not a Debian package name", false},
		{"package twice", "packages", "packages: [zstd, zstd]\n", "packages[1]", 1, "already listed at packages[0]", true},
		{"rootfs type missing", "rootfs", "rootfs:\n  compression: zstd\n", "rootfs.type", 1, "required: squashfs or erofs", false},
		{"rootfs type", "rootfs", "rootfs:\n  type: ext4\n", "rootfs.type", 2, "not supported", false},
		{"squashfs compression", "rootfs", "rootfs:\n  type: squashfs\n  compression: lz4hc\n", "rootfs.compression", 3, "not a squashfs compressor", false},
		{"erofs compression", "rootfs", "rootfs:\n  type: erofs\n  compression: zstd\n", "rootfs.compression", 3, "not a erofs compressor", false},
		{"exclude relative", "rootfs", "rootfs:\n  type: erofs\n  exclude: [usr/share/doc/*]\n", "rootfs.exclude[0]", 3, "not absolute", false},
		{"include bad glob", "rootfs", "rootfs:\n  type: erofs\n  exclude: [/usr/share/doc/*]\n  include: [\"/usr/share/doc/[\"]\n", "rootfs.include[0]", 4, "not a valid glob", false},
		{"include without exclude", "rootfs", "rootfs:\n  type: erofs\n  include: [/usr/share/doc/*/copyright]\n", "rootfs.include", 3, "exclude is empty", true},
		{"root size missing", "disk", "disk:\n  esp_size: 64MiB\n", "disk.root_size", 1, "required", false},
		{"root size decimal unit", "disk", "disk:\n  esp_size: 64MiB\n  root_size: 1GB\n", "disk.root_size", 3, "GB is ambiguous (1000 or 1024?); write 1GiB", false},
		{"root size fraction", "disk", "disk:\n  esp_size: 64MiB\n  root_size: 1.5GiB\n", "disk.root_size", 3, "whole numbers only", false},
		{"root size no unit", "disk", "disk:\n  esp_size: 64MiB\n  root_size: 1073741824\n", "disk.root_size", 3, "a unit is required", false},
		{"root size unit", "disk", "disk:\n  esp_size: 64MiB\n  root_size: 1PiB\n", "disk.root_size", 3, "unknown unit", false},
		{"root size not block", "disk", "disk:\n  esp_size: 64MiB\n  root_size: 67110000B\n", "disk.root_size", 3, "not a multiple of 4096", false},
		{"root size small", "disk", "disk:\n  esp_size: 64MiB\n  root_size: 32MiB\n", "disk.root_size", 3, "smaller than the minimum 64MiB", false},
		{"esp small", "disk", "disk:\n  esp_size: 32MiB\n  root_size: 256MiB\n", "disk.esp_size", 2, "smallest FAT32", false},
		{"root size huge", "disk", "disk:\n  esp_size: 64MiB\n  root_size: 65TiB\n", "disk.root_size", 3, "larger than 64TiB", false},
		{"esp zero", "disk", "disk:\n  esp_size: 0MiB\n  root_size: 256MiB\n", "disk.esp_size", 2, "larger than zero", false},
		{"verity small", "disk", "disk:\n  esp_size: 64MiB\n  root_size: 1GiB\n  verity_size: 4KiB\n", "disk.verity_size", 4, "cannot hold the hash tree", false},
		{"verity not block", "disk", "disk:\n  esp_size: 64MiB\n  root_size: 256MiB\n  verity_size: 4097KiB\n", "disk.verity_size", 4, "not a multiple of 4096", false},
		{"state size", "disk", "disk:\n  esp_size: 64MiB\n  root_size: 256MiB\n  state_min_size: lots\n", "disk.state_min_size", 4, "expected a whole number and a unit", false},
		{"formats empty", "formats", "formats: []\n", "formats", 1, "at least one format", false},
		{"format unknown", "formats", "formats: [raw, iso]\n", "formats[1]", 1, `"iso" is not a format`, false},
		{"format twice", "formats", "formats: [raw, qcow2, raw]\n", "formats[2]", 1, "already at [0]", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, start := imageWith(tc.key, tc.snippet)
			line := 0
			if tc.line > 0 {
				line = start + tc.line - 1
			}
			warns, errs := validateImageYAML(t, doc)
			got := errs
			if tc.warn {
				got = warns
			}
			if !findProblem(got, tc.path, line, tc.msg) {
				t.Errorf("want %s at line %d: %q\nerrors:\n%v\nwarnings:\n%v\ndocument:\n%s", tc.path, line, tc.msg, errs, warns, doc)
			}
			if tc.warn && len(errs) > 0 {
				t.Errorf("want no errors, got:\n%v", errs)
			}
		})
	}
}

func TestImageAllErrorsAtOnce(t *testing.T) {
	doc := `name: Bad/Name
release: bookworm
suites: [bookworm, sid]
components: [main]
architecture: amd64
source_date_epoch: soon
kernel:
  package: linux-image-amd64
  cmdline: [root=/dev/vda2, quiet]
  initrd_modules: [virtio_blk, "bad module"]
  initrd: [virtio_blk]
packages: [systemd, Systemd]
rootfs:
  type: squashfs
  compression: lz4hc
disk:
  esp_size: 64MiB
  root_size: 1GB
formats: [raw, iso]
`
	path := writeTemp(t, "bad.yaml", doc)
	_, _, errs := LoadImage(path)
	es, ok := asErrors(errs)
	if !ok || !errors.Is(errs, ErrInvalid) {
		t.Fatalf("want Errors, got %v", errs)
	}
	want := []string{
		"bad.yaml:1: name: ",
		"bad.yaml:3: suites[1]: ",
		"bad.yaml:6: source_date_epoch: expected an integer",
		"bad.yaml:9: kernel.cmdline[0]: root= is set by the build",
		"bad.yaml:10: kernel.initrd_modules[1]: ",
		"bad.yaml:11: kernel.initrd: unknown field",
		"bad.yaml:12: packages[1]: ",
		"bad.yaml:15: rootfs.compression: ",
		"bad.yaml:18: disk.root_size: ",
		"bad.yaml:19: formats[1]: ",
	}
	lines := strings.Split(es.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("want %d errors, got %d:\n%v", len(want), len(lines), errs)
	}
	for i, w := range want {
		if !strings.HasPrefix(strings.TrimPrefix(lines[i], filepath.Dir(path)+"/"), w) {
			t.Errorf("error %d: want prefix %q, got %q", i, w, lines[i])
		}
	}
}

func TestDecodeShape(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", "", "t.yaml:1: empty document"},
		{"comment only", "# nothing\n", "t.yaml:1: empty document"},
		{"null document", "---\n", "empty document"},
		{"two documents", "name: a\n---\nname: b\n", "t.yaml:2: a second document"},
		{"syntax", "name: a\nsuites: [\n", "t.yaml:2: did not find expected"},
		{"not a mapping", "- a\n", "t.yaml:1: expected a mapping"},
		{"merge key", "a: &a {name: x}\n<<: *a\n", `t.yaml:1: a: unknown field "a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := DecodeImage("t.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error with %q, got %v", tc.want, err)
			}
		})
	}
}

func TestEpochClock(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return time.Unix(1735689599, 0) }
	doc, _ := imageWith("", "")
	_, errs := validateImageYAML(t, doc)
	if !findProblem(errs, "source_date_epoch", 6, "in the future") {
		t.Errorf("want future epoch error, got %v", errs)
	}
}

// TestSourceDateEpochFromTheEnvironment: SOURCE_DATE_EPOCH stands in for a definition
// without source_date_epoch, agrees silently with an equal one, and is refused, saying what to
// do, when it differs or is no number.
func TestSourceDateEpochFromTheEnvironment(t *testing.T) {
	defer func(f func(string) string) { getenv = f }(getenv)
	env := ""
	getenv = func(k string) string {
		if k == "SOURCE_DATE_EPOCH" {
			return env
		}
		return ""
	}
	without, _ := imageWith("source_date_epoch", "")
	with, _ := imageWith("", "")
	for _, tc := range []struct {
		name, env, doc string
		want           string // "" for no problem
		epoch          int64
	}{
		{"only the environment", "1700000000", without, "", 1700000000},
		{"the same in both", "1735689600", with, "", 1735689600},
		{"they differ", "1700000000", with, "1735689600, but SOURCE_DATE_EPOCH=1700000000 in the environment", 0},
		{"not a number", "yesterday", with, `SOURCE_DATE_EPOCH="yesterday" in the environment is not a positive number`, 0},
		{"neither", "", without, "required (or SOURCE_DATE_EPOCH in the environment)", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env = tc.env
			img, _, _, errs := checkImage("t.yaml", []byte(tc.doc))
			if tc.want == "" {
				if len(errs) > 0 || img.SourceDateEpoch != tc.epoch {
					t.Fatalf("epoch %d, errors %v", img.SourceDateEpoch, errs)
				}
				return
			}
			if !findProblem(errs, "source_date_epoch", 0, tc.want) {
				t.Fatalf("want %q, got %v", tc.want, errs)
			}
		})
	}
}

func ExampleErrors() {
	es := Errors{
		{File: "images/node.yaml", Line: 12, Path: "kernel.initrd_modules[3]", Msg: `"a b" is not a kernel module name`},
		{File: "images/node.yaml", Line: 40, Path: "disk.root_size", Msg: "required"},
	}
	fmt.Println(es)
	// Output:
	// images/node.yaml:12: kernel.initrd_modules[3]: "a b" is not a kernel module name
	// images/node.yaml:40: disk.root_size: required
}

// writeTemp writes a file under a new temporary directory and returns its path.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
