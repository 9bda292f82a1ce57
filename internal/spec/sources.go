package spec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
)

// aptSource is one index of Packages the build machine's apt would fetch.
type aptSource struct {
	uri, suite, arch string
}

// aptRunner runs apt-get. Its failures are reported with apt's message: not logged again.
var aptRunner command.Runner = command.Exec{Log: slog.New(slog.DiscardHandler)}

// HostSources asks the build machine's apt which sources it has under root ("/" in
// production): apt-get indextargets lists every Packages index apt-get update would fetch,
// from sources.list and sources.list.d (one-line and deb822, options, Enabled:, arch=, file
// names and order exactly as apt reads them). It returns the first http(s) URI that serves
// release (Debian) for the image's architecture and the first that serves release-security
// (Security, empty when none does).
func HostSources(root, release string) (*Mirror, error) {
	srcs, err := readHostSources(root)
	if err != nil {
		return nil, err
	}
	m := &Mirror{
		Debian:   serving(srcs, release),
		Security: serving(srcs, release+"-security"),
	}
	if m.Debian == "" {
		return nil, fmt.Errorf("%w: no deb source under %s serves %s for %s: set mirror.debian in the image definition",
			ErrNoSource, filepath.Join(root, "etc/apt"), release, Architectures[0])
	}
	return m, nil
}

// serving returns the first http(s) URI that serves suite for our architecture.
func serving(srcs []aptSource, suite string) string {
	for _, s := range srcs {
		if s.suite == suite && s.arch == Architectures[0] && (strings.HasPrefix(s.uri, "http://") || strings.HasPrefix(s.uri, "https://")) {
			return strings.TrimRight(s.uri, "/")
		}
	}
	return ""
}

// indexTargetsFormat is one line per index: repository URI, suite, architecture, type.
const indexTargetsFormat = "$(REPO_URI)\t$(RELEASE)\t$(ARCHITECTURE)\t$(TARGET_OF)"

// aptIndexTargetsArgs builds apt-get's argument list: the sources under root, for the
// image's architecture, binary Packages indexes only, without reading Release files (none
// need to have been fetched). Pure: table-tested.
func aptIndexTargetsArgs(root string) []string {
	return []string{"-o", "Dir=" + root, "-o", "Dir::Etc=etc/apt", "-o", "APT::Architecture=" + Architectures[0],
		"indextargets", "--no-release-info", "--format", indexTargetsFormat, "Identifier: Packages", "Target-Of: deb"}
}

func readHostSources(root string) ([]aptSource, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	out, err := aptRunner.Run(context.Background(), command.Cmd{Name: "apt-get", Args: aptIndexTargetsArgs(abs)})
	if err != nil {
		var ce *command.Error
		if errors.As(err, &ce) && ce.Stderr != "" {
			return nil, fmt.Errorf("read apt sources: apt-get indextargets: %s", ce.Stderr)
		}
		return nil, fmt.Errorf("read apt sources (install apt): %w", err)
	}
	return parseIndexTargets(out), nil
}

// parseIndexTargets reads the lines of indexTargetsFormat.
func parseIndexTargets(out []byte) []aptSource {
	var srcs []aptSource
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) == 4 && f[3] == "deb" {
			srcs = append(srcs, aptSource{uri: f[0], suite: f[1], arch: f[2]})
		}
	}
	return srcs
}
