package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostRoot writes files (paths relative to root) into a new root directory.
func hostRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestHostSources(t *testing.T) {
	const list, dir = "etc/apt/sources.list", "etc/apt/sources.list.d/"
	for _, tc := range []struct {
		name             string
		files            map[string]string
		debian, security string
	}{
		{
			name: "one-line",
			files: map[string]string{list: `# comment
deb http://mirror.example/debian bookworm main
deb http://mirror.example/debian bookworm-updates main
deb http://security.mirror.example/debian-security bookworm-security main
`},
			debian: "http://mirror.example/debian", security: "http://security.mirror.example/debian-security",
		},
		{
			name: "one-line options, deb-src, comments, other architectures",
			files: map[string]string{list: `deb-src http://src.mirror.example/debian bookworm main
# deb http://commented.mirror.example/debian bookworm main
deb [arch=arm64,armhf] http://ports.mirror.example/debian bookworm main
deb [ signed-by=/usr/share/keyrings/k.gpg arch=amd64 ] https://mirror.example/debian/ bookworm main # trailing
deb [trusted=yes] cdrom:[Debian 12]/ bookworm main
`},
			debian: "https://mirror.example/debian",
		},
		{
			name: "deb822",
			files: map[string]string{dir + "debian.sources": `# Debian
Types: deb deb-src
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.mirror.example/debian-security
Suites: bookworm-security
Components: main
`},
			debian: "http://mirror.example/debian", security: "http://security.mirror.example/debian-security",
		},
		{
			name: "deb822 disabled, deb-src only, continuation lines, case",
			files: map[string]string{dir + "a.sources": `Types: deb
URIs: http://disabled.mirror.example/debian
Suites: bookworm
Components: main
Enabled: no

types: deb-src
uris: http://src.mirror.example/debian
suites: bookworm
components: main

Types: deb
URIs:
 http://mirror.example/debian
 http://second.mirror.example/debian
Suites:
 bookworm
 bookworm-security
Components: main
Architectures: amd64 i386
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 xyz
 -----END PGP PUBLIC KEY BLOCK-----
`},
			debian: "http://mirror.example/debian", security: "http://mirror.example/debian",
		},
		{
			name: "sources.list first, then sources.list.d in name order, other names ignored",
			files: map[string]string{
				list:                          "deb http://one.mirror.example/debian bookworm-updates main\n",
				dir + "20-b.list":             "deb http://b.mirror.example/debian bookworm main\n",
				dir + "10-a.sources":          "Types: deb\nURIs: http://a.mirror.example/debian\nSuites: bookworm\nComponents: main\n",
				dir + "00-x.list.disabled":    "deb http://disabled.mirror.example/debian bookworm main\n",
				dir + "00-y.sources.bak":      "Types: deb\nURIs: http://bak.mirror.example/debian\nSuites: bookworm\nComponents: main\n",
				dir + "30-security.list":      "deb http://security.mirror.example/s bookworm-security main\n",
				dir + "05-sec-disabled.list":  "#deb http://old.mirror.example/s bookworm-security main\n",
				dir + "06-other-release.list": "deb http://old.mirror.example/debian bullseye main\n",
			},
			debian: "http://a.mirror.example/debian", security: "http://security.mirror.example/s",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := HostSources(hostRoot(t, tc.files), "bookworm")
			if err != nil {
				t.Fatal(err)
			}
			if m.Debian != tc.debian || m.Security != tc.security {
				t.Errorf("got debian %q security %q; want %q, %q", m.Debian, m.Security, tc.debian, tc.security)
			}
		})
	}
}

func TestHostSourcesNone(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"no files":      {},
		"only security": {"etc/apt/sources.list": "deb http://security.mirror.example/s bookworm-security main\n"},
		"only disabled": {"etc/apt/sources.list.d/d.sources": "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n"},
		// apt's option syntax: arch-= takes an architecture away
		"not for amd64": {"etc/apt/sources.list": "deb [arch-=amd64,i386] http://mirror.example/debian bookworm main\n"},
		// apt ignores files with other characters in their names
		"ignored name": {"etc/apt/sources.list.d/mirror~1.list": "deb http://mirror.example/debian bookworm main\n"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := HostSources(hostRoot(t, files), "bookworm")
			if !errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), "set mirror.debian in the image definition") {
				t.Fatalf("want ErrNoSource with a hint, got %v", err)
			}
		})
	}
}

func TestHostSourcesFixture(t *testing.T) {
	m, err := HostSources("testdata/hostroot", "bookworm")
	if err != nil {
		t.Fatal(err)
	}
	want := Mirror{Debian: "http://mirror.example/debian", Security: "http://security.mirror.example/debian-security"}
	if *m != want {
		t.Errorf("got %+v, want %+v", *m, want)
	}
}

// TestHostSourcesAsAptReadsThem: apt's own reading wins where a re-implementation drifts:
// arch+= adds an architecture, and a stanza apt refuses is an error naming the file, as
// apt-get update on this machine would fail.
func TestHostSourcesAsAptReadsThem(t *testing.T) {
	m, err := HostSources(hostRoot(t, map[string]string{"etc/apt/sources.list": "deb [arch=arm64 arch+=amd64] http://plus.mirror.example/debian bookworm main\n"}), "bookworm")
	if err != nil || m.Debian != "http://plus.mirror.example/debian" {
		t.Errorf("arch+=amd64: %+v, %v", m, err)
	}
	_, err = HostSources(hostRoot(t, map[string]string{"etc/apt/sources.list.d/bad.sources": "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"}), "bookworm")
	if err == nil || !strings.Contains(err.Error(), "bad.sources") {
		t.Errorf("a stanza without components: %v", err)
	}
}

func TestAptIndexTargetsArgs(t *testing.T) {
	got := strings.Join(aptIndexTargetsArgs("/"), " ")
	want := "-o Dir=/ -o Dir::Etc=etc/apt -o APT::Architecture=amd64 indextargets --no-release-info --format $(REPO_URI)\t$(RELEASE)\t$(ARCHITECTURE)\t$(TARGET_OF) Identifier: Packages Target-Of: deb"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
