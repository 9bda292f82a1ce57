package build

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/mantlet/mantlet/internal/spec"
)

// aptEnv is a private apt for the plan's sources: the configuration mmdebstrap gives its own
// apt (this machine's keyrings, no recommends, no translations, only the plan's architecture,
// apt's implicit essential flag off), an empty dpkg status, and package lists kept in the
// cache between builds so that an update fetches only what changed.
type aptEnv struct {
	Dir  string
	Arch string
	// Sources are the sources.list lines, in the plan's order.
	Sources []string
}

func newAptEnv(cacheDir string, p *spec.Plan) aptEnv {
	lines := sourceLines(p)
	h := sha256.Sum256([]byte(p.Architecture + "\n" + strings.Join(lines, "\n")))
	return aptEnv{Dir: filepath.Join(cacheDir, "apt", hex.EncodeToString(h[:8])), Arch: p.Architecture, Sources: lines}
}

// sourceLines are the apt sources of the plan, as mmdebstrap is given them.
func sourceLines(p *spec.Plan) []string {
	var out []string
	for _, s := range p.Sources {
		out = append(out, "deb "+s.URI+" "+s.Suite+" "+strings.Join(s.Components, " "))
	}
	return out
}

// aptConfig is the APT_CONFIG file of env. Pure: golden-tested.
func aptConfig(e aptEnv) string {
	var b strings.Builder
	set := func(k, v string) { fmt.Fprintf(&b, "%s %q;\n", k, v) }
	set("Dir", "/")
	set("Dir::State", e.Dir+"/")
	set("Dir::State::Lists", e.Dir+"/lists/")
	set("Dir::State::status", e.Dir+"/status")
	set("Dir::State::extended_states", e.Dir+"/extended_states")
	set("Dir::Cache", e.Dir+"/cache/")
	set("Dir::Etc", e.Dir+"/etc/")
	set("Dir::Etc::Trusted", "/etc/apt/trusted.gpg")
	set("Dir::Etc::TrustedParts", "/etc/apt/trusted.gpg.d/")
	set("Dir::Log", e.Dir+"/log/")
	set("APT::Architecture", e.Arch)
	set("APT::Architectures", e.Arch)
	set("APT::Install-Recommends", "false")
	set("Acquire::Languages", "none")
	set("Acquire::Retries", "3")
	set("pkgCacheGen::ForceEssential", ",")
	return b.String()
}

// prepare writes env's configuration and makes its directories.
func (e aptEnv) prepare() error {
	for _, d := range []string{"lists/partial", "cache/archives/partial", "etc/apt.conf.d", "etc/sources.list.d",
		"etc/preferences.d", "log", "resolved"} {
		if err := os.MkdirAll(filepath.Join(e.Dir, d), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"apt.conf":         aptConfig(e),
		"etc/apt.conf":     "",
		"etc/sources.list": strings.Join(e.Sources, "\n") + "\n",
		"status":           "",
	}
	for name, data := range files {
		if err := writeFile(filepath.Join(e.Dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (e aptEnv) environ() []string {
	return []string{"APT_CONFIG=" + filepath.Join(e.Dir, "apt.conf"), "LC_ALL=C.UTF-8"}
}

// aptUpdateArgs fetches the package lists, failing on any source that fails, as mmdebstrap's
// update does.
func aptUpdateArgs() []string { return []string{"update", "--error-on=any", "-q"} }

// aptSimulateArgs asks apt what mmdebstrap's variant minbase installs: the Essential:yes
// packages and those of Priority: required of the release (mmdebstrap's own patterns), and the
// plan's packages (and kernel package file), each at the newest version the sources offer.
// Pure: table-tested.
func aptSimulateArgs(p *spec.Plan, kernelDeb string) []string {
	narrow := "?narrow(?or(?archive(^" + p.Release + "$),?codename(^" + p.Release + "$)),?architecture(" + p.Architecture + "),"
	args := []string{"install", "--simulate", "-q",
		narrow + "?essential)",
		narrow + "?and(?priority(required),?not(?essential)))"}
	args = append(args, p.Packages...)
	if kernelDeb != "" {
		args = append(args, kernelDeb)
	}
	return args
}

var instRE = regexp.MustCompile(`^Inst (\S+) (?:\[\S*\] )?\((\S+) (?:.* )?\[(\S+)\]\)`)

// parseSimulation reads the packages apt would install from apt-get --simulate's Inst lines,
// sorted by name.
func parseSimulation(out []byte) ([]Package, error) {
	var pkgs []Package
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Inst ") {
			continue
		}
		m := instRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("apt-get --simulate: cannot read %q", line)
		}
		name, _, _ := strings.Cut(m[1], ":") // name:arch for another architecture
		pkgs = append(pkgs, Package{Name: name, Version: m[2], Arch: m[3]})
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("apt-get --simulate lists no package to install")
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	return pkgs, sc.Err()
}

// listsDigest stands for the package lists apt resolved against: for each release file
// (InRelease, Release) the sha256 it gives of every Packages index, which apt checked the
// lists against; any other list file by its content. The lists are what a resolution is a
// function of, with the request: the same digest, the same answer. Reading the release
// files costs nothing next to hashing 50 MB of Packages files, and a release file that is
// re-signed or re-dated without a change of its indices keeps the digest.
func listsDigest(lists string) (string, error) {
	ents, err := os.ReadDir(lists)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, e := range ents {
		name := e.Name()
		switch {
		case !e.Type().IsRegular() || name == "lock":
			continue
		case strings.HasSuffix(name, "_InRelease") || strings.HasSuffix(name, "_Release"):
			data, err := os.ReadFile(filepath.Join(lists, name))
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s\n%s", name, releaseIndexHashes(data))
		case strings.Contains(name, "_Packages") && releaseFor(ents, name):
			// Pinned by its release file's hash.
		default:
			f, err := os.Open(filepath.Join(lists, name))
			if err != nil {
				return "", err
			}
			fh := sha256.New()
			_, err = io.Copy(fh, f)
			f.Close()
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s %x\n", name, fh.Sum(nil))
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// releaseIndexHashes are the lines of a release file's SHA256 section that name a Packages
// index.
func releaseIndexHashes(release []byte) string {
	var b strings.Builder
	in := false
	sc := bufio.NewScanner(bytes.NewReader(release))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "SHA256:"):
			in = true
		case in && strings.HasPrefix(line, " "):
			if strings.HasSuffix(line, "/Packages") {
				b.WriteString(strings.TrimSpace(line) + "\n")
			}
		default:
			in = false
		}
	}
	return b.String()
}

// releaseFor tells whether the lists have a release file of the suite a Packages list is of
// (apt names them HOST_PATH_dists_SUITE_InRelease and HOST_PATH_dists_SUITE_COMP_...).
func releaseFor(ents []os.DirEntry, packages string) bool {
	for _, e := range ents {
		for _, suffix := range []string{"_InRelease", "_Release"} {
			if base, ok := strings.CutSuffix(e.Name(), suffix); ok && strings.HasPrefix(packages, base+"_") {
				return true
			}
		}
	}
	return false
}

// snapshotLists puts the lists (hard links where the file system allows, copies where not)
// into dir, which the package layer's mmdebstrap installs from: the same lists the versions
// were resolved against, whatever another build's update does meanwhile.
func snapshotLists(lists, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "partial"), 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(lists)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == "lock" {
			continue
		}
		src, dst := filepath.Join(lists, e.Name()), filepath.Join(dir, e.Name())
		if os.Link(src, dst) == nil {
			continue
		}
		if _, err := copyWithSHA256(src, dst); err != nil {
			return err
		}
	}
	return nil
}
