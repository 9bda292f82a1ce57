package build

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/version"
)

// ToolVersions are the versions of what made an image, for the manifest: mantlet itself and
// the tools whose output is in the image's bytes.
type ToolVersions struct {
	Mantlet       string `json:"mantlet"`
	MantletCommit string `json:"mantlet_commit"`
	Mmdebstrap    string `json:"mmdebstrap"`
	Tar2sqfs      string `json:"tar2sqfs"`
	Veritysetup   string `json:"veritysetup"`
	EFIStub       string `json:"efi_stub"` // systemd-stub's own LoaderInfo, e.g. systemd-stub 252.39-1~deb12u2
}

// versionRE takes the first dotted version number of a tool's --version line.
var versionRE = regexp.MustCompile(`\b(\d+(?:\.\d+)+[^\s]*)`)

// parseToolVersion reads the version from a tool's --version output: mmdebstrap 1.3.5,
// tar2sqfs (squashfs-tools-ng) 1.2.0, veritysetup 2.6.1 flags: .... Pure: table-tested.
func parseToolVersion(out []byte) (string, error) {
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	m := versionRE.FindStringSubmatch(first)
	if m == nil {
		return "", fmt.Errorf("no version in %q", first)
	}
	return m[1], nil
}

var stubRE = regexp.MustCompile(`LoaderInfo: (systemd-stub [^\s#]+)`)

// stubVersion reads the LoaderInfo string the systemd EFI stub carries in its .sdmagic
// section.
func stubVersion(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	m := stubRE.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s: no systemd-stub LoaderInfo: not a systemd EFI stub", path)
	}
	return string(m[1]), nil
}

// imageToolVersions asks each tool whose output is in the image for its version.
func imageToolVersions(ctx context.Context, r command.Runner, stub string) (ToolVersions, error) {
	var t ToolVersions
	t.Mantlet, t.MantletCommit = version.Info()
	for _, tool := range []struct {
		name string
		dst  *string
	}{{"mmdebstrap", &t.Mmdebstrap}, {"tar2sqfs", &t.Tar2sqfs}, {"veritysetup", &t.Veritysetup}} {
		out, err := r.Run(ctx, command.Cmd{Name: tool.name, Args: []string{"--version"}})
		if err != nil {
			return t, fmt.Errorf("%s --version: %w", tool.name, err)
		}
		if *tool.dst, err = parseToolVersion(out); err != nil {
			return t, fmt.Errorf("%s --version: %w", tool.name, err)
		}
	}
	var err error
	if t.EFIStub, err = stubVersion(stub); err != nil {
		return t, fmt.Errorf("EFI stub: %w", err)
	}
	return t, nil
}
