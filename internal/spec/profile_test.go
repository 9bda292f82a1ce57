package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// baseProfile is a valid profile, one top-level field per entry.
var baseProfile = []struct{ key, text string }{
	{"name", "name: p\n"},
	{"description", "description: a test profile\n"},
	{"include", "include: [base.yaml]\n"},
	{"packages", "packages: [nginx]\n"},
	{"files", "files:\n  - path: /etc/motd\n    mode: \"0644\"\n    owner: root:root\n    content: hello\n  - path: /etc/issue\n    source: files/issue\n"},
	{"services", "services:\n  enable: [ssh.service]\n  disable: [apt-daily.timer]\n  mask: [debug-shell.service]\n"},
	{"cmdline", "cmdline: [quiet]\n"},
	{"firewall", "firewall:\n  tcp: [22, 443]\n  udp: []\n"},
	{"audit", "audit:\n  cis_level1_min: 95\n  cis_level2_min: 90\n  waivers: files/issue\n"},
	{"docker", "docker:\n  tcp: {port: 2376, tls: true}\n  userns_remap: true\n  containers_memory_max: 4GiB\n  log_max_size: 10MiB\n  log_max_files: 3\n"},
}

// profileDir makes dir/profiles with base.yaml, files/issue, a directory files/dir and a
// link files/link to dir/secret, outside the profile's directory. It returns dir/profiles.
func profileDir(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "profiles")
	for name, content := range map[string]string{
		"secret":                  "outside\n",
		"profiles/base.yaml":      "name: base\n",
		"profiles/files/issue":    "Debian\n",
		"profiles/files/dir/keep": "",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../../secret", filepath.Join(dir, "files/link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func profileWith(key, snippet string) (string, int) {
	var b strings.Builder
	for _, f := range baseProfile {
		if f.key != key {
			b.WriteString(f.text)
		}
	}
	return b.String() + snippet, strings.Count(b.String(), "\n") + 1
}

func checkProfileYAML(t *testing.T, dir, doc string) (warns, errs Errors) {
	t.Helper()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, warns, errs = checkProfile(path, []byte(doc))
	return warns, errs
}

func TestBaseProfileValid(t *testing.T) {
	doc, _ := profileWith("", "")
	warns, errs := checkProfileYAML(t, profileDir(t), doc)
	if len(warns)+len(errs) > 0 {
		t.Fatalf("base profile: warnings %v, errors %v", warns, errs)
	}
}

func TestValidateProfile(t *testing.T) {
	dir := profileDir(t)
	file := func(lines ...string) string {
		return "files:\n  - " + strings.Join(lines, "\n    ") + "\n"
	}
	for _, tc := range []struct {
		name, key, snippet string
		path               string
		line               int // relative to the snippet; 0 to skip
		msg                string
		warn               bool
	}{
		{"unknown field", "", "package: [x]\n", "package", 1, `unknown field "package" (did you mean "packages"?)`, false},
		{"unknown file field", "files", file("path: /etc/x", "content: x", "user: root"), "files[0].user", 4, "unknown field", false},
		{"name missing", "name", "", "name", 0, "required", false},
		{"name unsafe", "name", "name: my profile\n", "name", 1, "not a safe name", false},
		{"include absolute", "include", "include: [/etc/base.yaml]\n", "include[0]", 1, "is absolute", false},
		{"include missing", "include", "include:\n  - base.yaml\n  - nope.yaml\n", "include[1]", 3, `"nope.yaml" does not exist`, false},
		{"include empty", "include", "include: [\"\"]\n", "include[0]", 1, "empty path", false},
		{"include directory", "include", "include: [files]\n", "include[0]", 1, "not a regular file", false},
		{"package invalid", "packages", "packages: [nginx, \"nginx=1.22\"]\n", "packages[1]", 1, "not a Debian package name", false},
		{"package twice", "packages", "packages: [nginx, nginx]\n", "packages[1]", 1, "already listed", true},
		{"path missing", "files", file("content: x"), "files[0].path", 2, "required", false},
		{"path relative", "files", file("path: etc/x", "content: x"), "files[0].path", 2, "not absolute", false},
		{"path unclean", "files", file("path: /etc/../etc/x", "content: x"), "files[0].path", 2, `not a clean file path (want "/etc/x")`, false},
		{"path trailing slash", "files", file("path: /etc/x/", "content: x"), "files[0].path", 2, "not a clean file path", false},
		{"path root", "files", file("path: /", "content: x"), "files[0].path", 2, "not a clean file path", false},
		{"path var", "files", file("path: /var/lib/x", "content: x"), "files[0].path", 2, "the state partition, created on first boot", false},
		{"path var itself", "files", file("path: /var", "content: x"), "files[0].path", 2, "under /var", false},
		{"path proc", "files", file("path: /proc/sys/x", "content: x"), "files[0].path", 2, "under /proc", false},
		{"path sys", "files", file("path: /sys/x", "content: x"), "files[0].path", 2, "under /sys", false},
		{"path dev", "files", file("path: /dev/x", "content: x"), "files[0].path", 2, "under /dev", false},
		{"path run", "files", file("path: /run/x", "content: x"), "files[0].path", 2, "under /run", false},
		{"path tmp", "files", file("path: /tmp/x", "content: x"), "files[0].path", 2, "under /tmp", false},
		{"path twice", "files", "files:\n  - path: /etc/x\n    content: a\n  - path: /etc/x\n    content: b\n", "files[1].path", 4, "already placed by files[0]", false},
		{"mode not octal", "files", file("path: /etc/x", "mode: \"0999\"", "content: x"), "files[0].mode", 3, "not an octal mode", false},
		{"mode too large", "files", file("path: /etc/x", "mode: \"17777\"", "content: x"), "files[0].mode", 3, "not an octal mode", false},
		{"mode words", "files", file("path: /etc/x", "mode: rw-r--r--", "content: x"), "files[0].mode", 3, "not an octal mode", false},
		{"mode world-writable", "files", file("path: /etc/x", "mode: \"0666\"", "content: x"), "files[0].mode", 3, "world-writable", true},
		{"owner no group", "files", file("path: /etc/x", "owner: root", "content: x"), "files[0].owner", 3, "not user:group", false},
		{"owner bad name", "files", file("path: /etc/x", "owner: Root:root", "content: x"), "files[0].owner", 3, "not user:group", false},
		{"content and source", "files", file("path: /etc/x", "content: x", "source: files/issue"), "files[0]", 2, "both content and source", false},
		{"neither", "files", file("path: /etc/x", "mode: \"0600\""), "files[0]", 2, "neither content nor source", false},
		{"source absolute", "files", file("path: /etc/x", "source: /etc/issue"), "files[0].source", 3, "is absolute", false},
		{"source escapes", "files", file("path: /etc/x", "source: ../secret"), "files[0].source", 3, "leaves the profile's directory", false},
		{"source escapes inside", "files", file("path: /etc/x", "source: files/../../secret"), "files[0].source", 3, "leaves the profile's directory", false},
		{"source missing", "files", file("path: /etc/x", "source: files/nope"), "files[0].source", 3, "does not exist", false},
		{"source directory", "files", file("path: /etc/x", "source: files/dir"), "files[0].source", 3, "not a regular file", false},
		{"source symlink escapes", "files", file("path: /etc/x", "source: files/link"), "files[0].source", 3, "through a symbolic link", false},
		{"unit without type", "services", "services:\n  enable: [ssh]\n", "services.enable[0]", 2, "not a systemd unit name", false},
		{"unit bad type", "services", "services:\n  mask: [ssh.conf]\n", "services.mask[0]", 2, "not a systemd unit name", false},
		{"unit bad chars", "services", "services:\n  disable: [\"a b.service\"]\n", "services.disable[0]", 2, "not a systemd unit name", false},
		{"enabled and masked", "services", "services:\n  enable: [ssh.service]\n  mask: [ssh.service]\n", "services.mask[0]", 3, "also at services.enable[0]", false},
		{"enabled and disabled", "services", "services:\n  enable: [ssh.service]\n  disable: [ssh.service]\n", "services.disable[0]", 3, "also at services.enable[0]", false},
		{"enabled twice", "services", "services:\n  enable: [ssh.service, ssh.service]\n", "services.enable[1]", 2, "already at services.enable[0]", true},
		{"template instance", "services", "services:\n  enable: [\"getty@tty1.service\", systemd-networkd.socket, fstrim.timer, local-fs.target]\n", "services.enable[0]", 0, "", true},
		{"cmdline roothash", "cmdline", "cmdline: [roothash=00]\n", "cmdline[0]", 1, "set by the build", false},
		{"port zero", "firewall", "firewall:\n  tcp: [0]\n", "firewall.tcp[0]", 2, "not a port", false},
		{"port too large", "firewall", "firewall:\n  udp: [65536]\n", "firewall.udp[0]", 2, "not a port", false},
		{"port not a number", "firewall", "firewall:\n  tcp: [ssh]\n", "firewall.tcp[0]", 2, "expected an integer", false},
		{"port twice", "firewall", "firewall:\n  tcp: [22, 22]\n", "firewall.tcp[1]", 2, "already at firewall.tcp[0]", true},
		{"nftables.conf placed", "files", file("path: /etc/nftables.conf", "content: x"), "files[0].path", 2, "rendered from firewall", false},
		{"threshold over 100", "audit", "audit:\n  cis_level1_min: 101\n", "audit.cis_level1_min", 2, "not a percentage", false},
		{"threshold negative", "audit", "audit:\n  cis_level2_min: -1\n", "audit.cis_level2_min", 2, "not a percentage", false},
		{"waivers missing", "audit", "audit:\n  waivers: nope.yaml\n", "audit.waivers", 2, "does not exist", false},
		{"waivers escape", "audit", "audit:\n  waivers: ../secret\n", "audit.waivers", 2, "leaves the profile's directory", false},
		{"audit unknown field", "audit", "audit:\n  level1: 95\n", "audit.level1", 2, "unknown field", false},
		{"cmdline space", "cmdline", "cmdline: [\"a b\"]\n", "cmdline[0]", 1, "whitespace", false},
		{"docker tcp without tls", "docker", "docker:\n  tcp:\n    port: 2375\n    tls: false\n", "docker.tcp.tls", 4, "false is refused: dockerd never listens on TCP without TLS", false},
		{"docker tcp tls missing", "docker", "docker:\n  tcp: {port: 2376}\n", "docker.tcp.tls", 2, "required: set tls: true", false},
		{"docker tcp tls not a bool", "docker", "docker:\n  tcp: {tls: yes}\n", "docker.tcp.tls", 2, `expected true or false, found "yes"`, false},
		{"docker tcp port", "docker", "docker:\n  tcp: {port: 70000, tls: true}\n", "docker.tcp.port", 2, "not a port", false},
		{"docker tcp default port", "docker", "docker:\n  tcp: {tls: true}\n", "", 0, "", false},
		{"docker userns off without reason", "docker", "docker:\n  userns_remap: false\n", "docker.userns_remap", 2, "false needs docker.userns_remap_optout_reason", false},
		{"docker userns off blank reason", "docker", "docker:\n  userns_remap: false\n  userns_remap_optout_reason: \" \"\n", "docker.userns_remap", 2, "false needs docker.userns_remap_optout_reason", false},
		{"docker userns off with reason", "docker", "docker:\n  userns_remap: false\n  userns_remap_optout_reason: the storage driver of this role needs host ids\n", "", 0, "", false},
		{"docker reason without opt-out", "docker", "docker:\n  userns_remap_optout_reason: why\n", "docker.userns_remap_optout_reason", 2, "ignored", true},
		{"docker reason two lines", "docker", "docker:\n  userns_remap: false\n  userns_remap_optout_reason: \"a\\nb\"\n", "docker.userns_remap_optout_reason", 3, "one line", false},
		{"docker memory unit", "docker", "docker:\n  containers_memory_max: 4GB\n", "docker.containers_memory_max", 2, "ambiguous", false},
		{"docker memory tiny", "docker", "docker:\n  containers_memory_max: 1MiB\n", "docker.containers_memory_max", 2, "less than 64MiB", false},
		{"docker memory percent", "docker", "docker:\n  containers_memory_max: 75%\n", "", 0, "", false},
		{"docker memory percent over", "docker", "docker:\n  containers_memory_max: 101%\n", "docker.containers_memory_max", 2, "not a percentage", false},
		{"docker log size", "docker", "docker:\n  log_max_size: 10m\n", "docker.log_max_size", 2, "unknown unit", false},
		{"docker log files zero", "docker", "docker:\n  log_max_files: 0\n", "docker.log_max_files", 2, "at least 1", false},
		{"docker unknown field", "docker", "docker:\n  hosts: [tcp://0.0.0.0:2375]\n", "docker.hosts", 2, "unknown field", false},
		{"daemon.json placed", "files", file("path: /etc/docker/daemon.json", "content: \"{}\""), "files[0].path", 2, "rendered from the docker section", false},
		{"containerd config placed", "files", file("path: /etc/containerd/config.toml", "content: x"), "files[0].path", 2, "rendered from the docker section", false},
		{"docker drop-in placed", "files", file("path: /etc/systemd/system/docker.service.d/50-mantlet.conf", "content: x"), "files[0].path", 2, "rendered from the docker section", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, start := profileWith(tc.key, tc.snippet)
			line := 0
			if tc.line > 0 {
				line = start + tc.line - 1
			}
			warns, errs := checkProfileYAML(t, dir, doc)
			if tc.msg == "" { // a valid case
				if len(warns)+len(errs) > 0 {
					t.Fatalf("want nothing, got errors %v, warnings %v", errs, warns)
				}
				return
			}
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

func TestParseMode(t *testing.T) {
	for in, want := range map[string]os.FileMode{
		"0644":  0o644,
		"644":   0o644,
		"0o600": 0o600,
		"0755":  0o755,
		"4755":  os.ModeSetuid | 0o755,
		"2755":  os.ModeSetgid | 0o755,
		"1777":  os.ModeSticky | 0o777,
		"07777": os.ModeSetuid | os.ModeSetgid | os.ModeSticky | 0o777,
	} {
		got, err := parseMode(in)
		if err != nil || got != want {
			t.Errorf("parseMode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "8", "0o", "-644", "010000", "0x1ff"} {
		if _, err := parseMode(in); err == nil {
			t.Errorf("parseMode(%q): want an error", in)
		}
	}
}
