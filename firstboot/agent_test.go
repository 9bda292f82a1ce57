package firstboot

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mantlet/mantlet/firstboot/internal/fixture"
	"github.com/mantlet/mantlet/firstboot/providers"
	"github.com/mantlet/mantlet/internal/command"
)

// machine is a fake machine: a root, a kernel command line and a sysfs tree.
type machine struct {
	root, cmdline, sysfs string
}

func newMachine(t *testing.T, cmdline string, fwcfg []byte) machine {
	t.Helper()
	m := machine{root: newRoot(t), sysfs: t.TempDir()}
	m.cmdline = filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(m.cmdline, []byte(cmdline+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if fwcfg != nil {
		dir := filepath.Join(m.sysfs, "firmware/qemu_fw_cfg/by_name", providers.FwCfgKey)
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, "raw"), fwcfg, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m machine) run(t *testing.T) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), Options{
		Root: m.root, Cmdline: m.cmdline, Sysfs: m.sysfs, Hostname: "test",
		Runner: &command.Recorder{}, Stdout: &out,
		Now:     func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		Fetcher: fixture.LoopbackFetcher(),
	})
	return out.String(), err
}

func (m machine) exists(p string) bool {
	_, err := os.Lstat(filepath.Join(m.root, p))
	return err == nil
}

var hostKeyLine = regexp.MustCompile(`^mantlet-firstboot: host key (RSA|ECDSA|ED25519) SHA256:[A-Za-z0-9+/]{43}$`)

// checkHostKeys checks the three fingerprint lines, in order, and returns them.
func checkHostKeys(t *testing.T, lines []string) []string {
	t.Helper()
	var keys []string
	for _, l := range lines {
		if strings.HasPrefix(l, "mantlet-firstboot: host key ") {
			if !hostKeyLine.MatchString(l) {
				t.Errorf("bad host key line %q", l)
			}
			keys = append(keys, l)
		}
	}
	if len(keys) != 3 || !strings.Contains(keys[0], " RSA ") || !strings.Contains(keys[1], " ECDSA ") || !strings.Contains(keys[2], " ED25519 ") {
		t.Fatalf("host key lines %q", keys)
	}
	return keys
}

func TestRunQemu(t *testing.T) {
	m := newMachine(t, "BOOT_IMAGE=/vmlinuz ro", applyConfig)
	out, err := m.run(t)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	wantStart := []string{
		"mantlet-firstboot: starting",
		"mantlet-firstboot: platform qemu",
		"mantlet-firstboot: config from qemu: " + strconv.Itoa(len(applyConfig)) + " bytes",
	}
	for i, w := range wantStart {
		if lines[i] != w {
			t.Fatalf("line %d = %q, want %q\n%s", i, lines[i], w, out)
		}
	}
	keys := checkHostKeys(t, lines)
	if last := lines[len(lines)-1]; last != "mantlet-firstboot: done" {
		t.Fatalf("last line %q", last)
	}
	if strings.Contains(out, "top-secret") {
		t.Fatal("contents on the console")
	}
	if !m.exists(StampDone) || m.exists(StampInProgress) || m.exists(ConfigCache) {
		t.Fatalf("stamps wrong:\n%s", tree(t, filepath.Join(m.root, "var/lib/mantlet")))
	}
	if fi, _ := os.Stat(filepath.Join(m.root, StateDir)); fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode %v", fi.Mode())
	}
	if !m.exists("etc/systemd/system/multi-user.target.wants/app.service") {
		t.Fatal("config not applied")
	}

	// the next boot: nothing to do
	out, err = m.run(t)
	if err != nil || out != "mantlet-firstboot: already done ("+StampDone+" exists)\n" {
		t.Fatalf("second run: %v\n%s", err, out)
	}

	// done removed by hand: run again, keep the host keys
	os.Remove(filepath.Join(m.root, StampDone))
	out, err = m.run(t)
	if err != nil {
		t.Fatalf("third run: %v\n%s", err, out)
	}
	again := checkHostKeys(t, strings.Split(strings.TrimSpace(out), "\n"))
	if strings.Join(again, "\n") != strings.Join(keys, "\n") || strings.Contains(out, "made ssh host keys") {
		t.Fatalf("host keys changed:\n%s", out)
	}
}

func TestRunFailedConfig(t *testing.T) {
	cfg := `{"ignition":{"version":"3.4.0"},"storage":{"disks":[{"device":"/dev/vdb"}],
		"files":[{"path":"/etc/secret","contents":{"source":"data:,hunter2"}}]}}`
	m := newMachine(t, "ignition.platform.id=qemu", []byte(cfg))
	out, err := m.run(t)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	checkHostKeys(t, lines) // made anyway, so that sshd can start
	want := "mantlet-firstboot: FAILED: apply config: invalid config: $.storage.disks (line 1 col 53): not supported by mantlet-firstboot"
	if last := lines[len(lines)-1]; last != want {
		t.Fatalf("last line %q, want %q", last, want)
	}
	if strings.Contains(out, "hunter2") {
		t.Fatal("contents on the console")
	}
	if m.exists(StampDone) || !m.exists(StampInProgress) || m.exists("etc/secret") {
		t.Fatalf("after failure:\n%s", tree(t, m.root))
	}
	fi, err := os.Stat(filepath.Join(m.root, ConfigCache))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cached config: %v %v", fi, err)
	}
	// the next attempt knows the last one did not finish
	out, _ = m.run(t)
	if !strings.HasPrefix(out, "mantlet-firstboot: starting again: the previous attempt did not finish\n") {
		t.Fatalf("retry:\n%s", out)
	}
}

func TestRunWithoutConfig(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		fwcfg   []byte
		want    string
	}{
		{"no platform no device", "ro quiet", nil,
			"mantlet-firstboot: no config: no ignition.platform.id= on the kernel command line and no QEMU fw_cfg device"},
		{"qemu without entry", "ignition.platform.id=qemu", nil, "mantlet-firstboot: no config from qemu: no fw_cfg device in "},
		{"empty entry", "", []byte{}, "mantlet-firstboot: no config from qemu: the config is empty"},
		{"file without path", "ignition.platform.id=file", nil, "mantlet-firstboot: no config from file: no ignition.config.file= on the kernel command line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, tt.cmdline, tt.fwcfg)
			out, err := m.run(t)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "\n"+tt.want) {
				t.Fatalf("no %q in\n%s", tt.want, out)
			}
			if !strings.HasSuffix(out, "mantlet-firstboot: done\n") || !m.exists(StampDone) {
				t.Fatalf("not done:\n%s", out)
			}
			checkHostKeys(t, strings.Split(out, "\n"))
		})
	}
}

func TestRunFileAndUnknownPlatform(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "node.ign")
	os.WriteFile(cfgFile, applyConfig, 0o600)
	m := newMachine(t, "ignition.platform.id=file ignition.config.file="+cfgFile, nil)
	out, err := m.run(t)
	if err != nil || !strings.Contains(out, "\nmantlet-firstboot: config from file: ") {
		t.Fatalf("%v\n%s", err, out)
	}

	m = newMachine(t, "ignition.platform.id=azure", nil)
	out, err = m.run(t)
	if !errors.Is(err, ErrFailed) || !strings.HasSuffix(out, `mantlet-firstboot: FAILED: unknown platform "azure" (known: aws, file, gcp, metal, openstack, qemu)`+"\n") {
		t.Fatalf("%v\n%s", err, out)
	}
	checkHostKeys(t, strings.Split(out, "\n"))
}

// TestRunWithUsers boots with users, made by the real useradd.
func TestRunWithUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("useradd --prefix and chown need root")
	}
	cfg := `{"ignition":{"version":"3.6.0"},"passwd":{"users":[{"name":"core","groups":["sudo"],
		"sshAuthorizedKeys":["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnPtvtqYsGQhxDUNL4SkCTF+MoSL8hKLKPRZ0bd4uXF core@test"]}],
		"groups":[{"name":"sudo","gid":27}]},
		"storage":{"files":[{"path":"/home/core/.config/app.toml","user":{"name":"core"},"group":{"name":"core"},"contents":{"source":"data:,x%3D1"}}]}}`
	m := newMachine(t, "", []byte(cfg))
	for name, data := range map[string]string{"etc/shadow": "root:*:19000:0:99999:7:::\n", "etc/gshadow": "root:*::\n"} {
		os.WriteFile(filepath.Join(m.root, name), []byte(data), 0o640)
	}
	var out bytes.Buffer
	err := Run(context.Background(), Options{Root: m.root, Cmdline: m.cmdline, Sysfs: m.sysfs, Hostname: "test",
		Runner: command.Exec{}, Stdout: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, p := range []string{"var/home/core/.ssh/authorized_keys", "var/home/core/.config/app.toml"} {
		fi, err := os.Stat(filepath.Join(m.root, p))
		if err != nil {
			t.Fatal(err)
		}
		if uid, _, _ := ownerOf(fi); uid != 1000 {
			t.Errorf("%s owned by %d", p, uid)
		}
	}
}

// TestRunAgainAfterInterruption: a boot that died after appending to a file is run again;
// the fragment is appended once.
func TestRunAgainAfterInterruption(t *testing.T) {
	cfg := `{"ignition":{"version":"3.4.0"},
		"storage":{"files":[{"path":"/etc/motd","append":[{"source":"data:,welcome%0A"}]},{"path":"/etc/new","append":[{"source":"data:,x%0A"}]}]},
		"systemd":{"units":[{"name":"a.service","contents":"[Service]\nExecStart=/bin/true\n"}]}}`
	m := newMachine(t, "", []byte(cfg))
	os.WriteFile(filepath.Join(m.root, "etc/motd"), []byte("hello\n"), 0o644)
	// the units stage fails after the storage stage has written: /etc/systemd is a file
	blocker := filepath.Join(m.root, "etc/systemd")
	os.WriteFile(blocker, nil, 0o644)
	out, err := m.run(t)
	if !errors.Is(err, ErrFailed) || !strings.Contains(out, "FAILED: apply config: units: $.systemd.units[0]") {
		t.Fatalf("%v\n%s", err, out)
	}
	os.Remove(blocker)
	out, err = m.run(t)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for p, want := range map[string]string{"etc/motd": "hello\nwelcome\n", "etc/new": "x\n"} {
		if b, _ := os.ReadFile(filepath.Join(m.root, p)); string(b) != want {
			t.Errorf("%s = %q, want %q", p, b, want)
		}
	}
	if m.exists(Journal) {
		t.Error("journal left after success")
	}
}

// TestRunRemote: remote contents are fetched and verified before anything is written; a
// wrong hash fails the boot with nothing of the config written.
func TestRunRemote(t *testing.T) {
	const secret = "remote-top-secret"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Key") != "header-secret" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		w.Write([]byte(secret))
	}))
	defer srv.Close()
	ca := url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	sum := sha512.Sum512([]byte(secret))
	for _, tt := range []struct {
		name string
		hash string
		ok   bool
	}{
		{"verified", hex.EncodeToString(sum[:]), true},
		{"wrong hash", strings.Repeat("ab", 64), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := `{"ignition":{"version":"3.4.0","security":{"tls":{"certificateAuthorities":[{"source":"data:,` + ca + `"}]}}},
			"storage":{"files":[{"path":"/etc/local","contents":{"source":"data:,local"}},
			{"path":"/etc/remote","mode":384,"contents":{"source":"` + srv.URL + `/private-path?sig=query-secret","httpHeaders":[{"name":"X-Key","value":"header-secret"}],
			"verification":{"hash":"sha512-` + tt.hash + `"}}}]}}`
			m := newMachine(t, "ignition.platform.id=qemu", []byte(cfg))
			out, err := m.run(t)
			// The path must not show either ("-" cannot occur in a base64 host key fingerprint).
			for _, s := range []string{secret, "query-secret", "header-secret", "/private-path"} {
				if strings.Contains(out, s) {
					t.Fatalf("%q on the console:\n%s", s, out)
				}
			}
			if tt.ok {
				b, rerr := os.ReadFile(filepath.Join(m.root, "etc/remote"))
				if err != nil || rerr != nil || string(b) != secret {
					t.Fatalf("%v %v\n%s", err, rerr, out)
				}
				return
			}
			if !errors.Is(err, ErrFailed) || !strings.Contains(out, "hash mismatch") {
				t.Fatalf("%v\n%s", err, out)
			}
			if m.exists("etc/local") || m.exists("etc/remote") {
				t.Fatal("a file was written before everything was fetched and verified")
			}
		})
	}
}

// On a live boot the agent reloads systemd and starts the units the config enables (the boot
// transaction was computed before they existed); offline it touches no systemd.
func TestRunLiveStartsEnabledUnits(t *testing.T) {
	for _, live := range []bool{true, false} {
		m := newMachine(t, "BOOT_IMAGE=/vmlinuz ro", applyConfig)
		rec := &command.Recorder{}
		var out bytes.Buffer
		err := Run(context.Background(), Options{
			Root: m.root, Cmdline: m.cmdline, Sysfs: m.sysfs, Hostname: "test", Live: live,
			Runner: rec, Stdout: &out, Fetcher: fixture.LoopbackFetcher(),
		})
		if err != nil {
			t.Fatalf("live=%v: %v\n%s", live, err, out.String())
		}
		var systemctl []string
		for _, c := range rec.Calls {
			if c.Name == "systemctl" {
				systemctl = append(systemctl, strings.Join(c.Args, " "))
			}
		}
		want := []string{"daemon-reload", "--no-block start app.service"}
		if !live {
			want = nil
		}
		if strings.Join(systemctl, "|") != strings.Join(want, "|") {
			t.Errorf("live=%v: systemctl calls %q, want %q", live, systemctl, want)
		}
	}
}

// A config that writes a systemd-networkd file makes a live boot reload networkd, which may
// have configured the links before the file existed, and one that writes /etc/hostname sets
// the running system's name; a config without them leaves both alone.
func TestRunLiveReloadsNetworkd(t *testing.T) {
	network := []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/systemd/network/10-mantlet-cluster.network","mode":420,"contents":{"source":"data:,%5BMatch%5D%0AName%3Denp0s4%0A"}},{"path":"/etc/hostname","overwrite":true,"mode":420,"contents":{"source":"data:,ctl-1%0A"}}]}}`)
	for _, tc := range []struct {
		name   string
		config []byte
		want   []string
	}{
		{"network file and hostname", network, []string{"systemctl daemon-reload", "hostname --file /etc/hostname", "systemctl try-reload-or-restart systemd-networkd.service"}},
		{"hostname, no network file", applyConfig, []string{"systemctl daemon-reload", "hostname --file /etc/hostname", "systemctl --no-block start app.service"}},
		{"neither", []byte(`{"ignition":{"version":"3.4.0"}}`), []string{"systemctl daemon-reload"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, "BOOT_IMAGE=/vmlinuz ro", tc.config)
			rec := &command.Recorder{}
			var out bytes.Buffer
			err := Run(context.Background(), Options{
				Root: m.root, Cmdline: m.cmdline, Sysfs: m.sysfs, Hostname: "test", Live: true,
				Runner: rec, Stdout: &out, Fetcher: fixture.LoopbackFetcher(),
			})
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			var calls []string
			for _, c := range rec.Calls {
				if c.Name == "systemctl" || c.Name == "hostname" {
					calls = append(calls, c.Name+" "+strings.Join(c.Args, " "))
				}
			}
			if strings.Join(calls, "|") != strings.Join(tc.want, "|") {
				t.Errorf("calls %q, want %q", calls, tc.want)
			}
		})
	}
}
