package audit

import (
	"log/slog"

	"encoding/json"
	"github.com/mantlet/mantlet/internal/command"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func results(rules map[string]string) *Results {
	r := &Results{Rules: map[string]string{}, Counts: map[string]int{}}
	for k, v := range rules {
		r.Rules[rule+k] = v
		r.Counts[v]++
	}
	return r
}

func TestMerge(t *testing.T) {
	offline := results(map[string]string{
		"unit_enabled":   "unknown", // offline cannot judge, booted can
		"partition_tmp":  "fail",    // offline misjudges, booted sees the mount
		"file_mode":      "pass",    // both judge; the booted machine differs
		"grub":           "fail",    // fails everywhere
		"probe_error":    "pass",    // booted cannot judge: the offline result stays
		"offline_only":   "notapplicable",
		"both_undecided": "unknown",
		"skipped_booted": "pass", // the booted scan skipped it: the offline result stays
	})
	booted := results(map[string]string{
		"skipped_booted": "notselected",
		"unit_enabled":   "pass",
		"partition_tmp":  "pass",
		"file_mode":      "fail",
		"grub":           "fail",
		"probe_error":    "error",
		"booted_only":    "pass",
		"both_undecided": "error",
	})
	m := Merge(offline, booted)
	want := map[string][2]string{
		"unit_enabled":   {"pass", FromBooted},
		"partition_tmp":  {"pass", FromBooted},
		"file_mode":      {"fail", FromBooted},
		"grub":           {"fail", FromBooted},
		"probe_error":    {"pass", FromOffline},
		"offline_only":   {"notapplicable", FromOffline},
		"booted_only":    {"pass", FromBooted},
		"both_undecided": {"error", FromBooted},
		"skipped_booted": {"pass", FromOffline},
	}
	if len(m.Rules) != len(want) {
		t.Errorf("merged %d rules, want %d", len(m.Rules), len(want))
	}
	for r, w := range want {
		if got := [2]string{m.Rules[rule+r], m.From[rule+r]}; got != w {
			t.Errorf("%s = %v, want %v", r, got, w)
		}
	}
	if m.Counts["pass"] != 5 || m.Counts["fail"] != 2 || m.Counts["error"] != 1 || m.Counts["notapplicable"] != 1 {
		t.Errorf("counts %v", m.Counts)
	}
	if got := regressions(offline, booted); len(got) != 1 || got[0].Rule != rule+"file_mode" {
		t.Errorf("regressions = %v, want file_mode only", got)
	}
}

// An offline_only waiver covers a rule the offline scan gave up on, not a booted result, and is
// not reported stale or unused when the booted scan judged the rule.
func TestJudgeOfflineOnlyWaivers(t *testing.T) {
	b := Benchmark{Name: "cis-level1"}
	ws := []Waiver{
		{Rule: rule + "unit_enabled", Reason: "runtime only", OfflineOnly: true},
		{Rule: rule + "unit_running", Reason: "runtime only", OfflineOnly: true},
	}
	offline := results(map[string]string{"unit_enabled": "unknown", "unit_running": "unknown"})
	if br := Judge(b, offline, 0, ws); len(br.Waived) != 2 || len(br.Unwaived) != 0 {
		t.Errorf("offline: waived %v, unwaived %v; want both waived", br.Waived, br.Unwaived)
	}
	booted := results(map[string]string{"unit_enabled": "pass", "unit_running": "fail"})
	br := Judge(b, Merge(offline, booted), 0, ws)
	if len(br.Waived) != 0 || len(br.Unwaived) != 1 || br.Unwaived[0].Rule != rule+"unit_running" {
		t.Errorf("booted: waived %v, unwaived %v; want unit_running unwaived", br.Waived, br.Unwaived)
	}
	if stale, unused := idleWaivers([]BenchmarkReport{*br}, ws); len(stale)+len(unused) != 0 {
		t.Errorf("stale %v, unused %v; want none", stale, unused)
	}
}

func TestParseLdd(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibopenscap.so.25 => /lib/x86_64-linux-gnu/libopenscap.so.25 (0x00007f01)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f02)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f03)\n"
	libs, err := parseLdd([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := "/lib/x86_64-linux-gnu/libc.so.6 /lib/x86_64-linux-gnu/libopenscap.so.25 /lib64/ld-linux-x86-64.so.2"
	if got := strings.Join(libs, " "); got != want {
		t.Errorf("libs = %s, want %s", got, want)
	}
	if _, err := parseLdd([]byte("\tlibfoo.so.1 => not found\n")); err == nil || !strings.Contains(err.Error(), "libfoo") {
		t.Errorf("missing library: %v, want an error naming it", err)
	}
}

func TestBootIgnition(t *testing.T) {
	data, err := bootIgnition("ssh-ed25519 AAAA test")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Ignition struct{ Version string }
		Passwd   struct {
			Users []struct {
				Name              string
				Groups            []string
				SSHAuthorizedKeys []string `json:"sshAuthorizedKeys"`
			}
		}
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	u := cfg.Passwd.Users
	if cfg.Ignition.Version != "3.4.0" || len(u) != 1 || u[0].Name != bootUser || u[0].Groups[0] != "sudo" || u[0].SSHAuthorizedKeys[0] != "ssh-ed25519 AAAA test" {
		t.Errorf("config = %s", data)
	}
}

// TestScannerRunsFromItsBundle builds the scanner bundle from this machine's OpenSCAP, unpacks
// it and runs oscap the way the booted machine does: through the bundle's own loader.
func TestScannerRunsFromItsBundle(t *testing.T) {
	if _, err := os.Stat(scannerOscap); err != nil {
		t.Skip("OpenSCAP not installed (openscap-scanner package; make deps)")
	}
	dir := t.TempDir()
	ds := dir + "/tiny-ds.xml"
	if err := os.WriteFile(ds, []byte("<not-a-datastream/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle, err := buildScanner(t.Context(), command.Exec{Log: slog.New(slog.DiscardHandler)}, ds, dir)
	if err != nil {
		t.Fatal(err)
	}
	un := dir + "/unpacked"
	if err := os.Mkdir(un, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-C", un, "-xzf", bundle).CombinedOutput(); err != nil {
		t.Fatalf("unpack: %v: %s", err, out)
	}
	for _, f := range []string{"bin/oscap", scannerLoader, "lib/libopenscap.so.25", "share/xsl", "share/cpe", scannerDS} {
		if _, err := os.Stat(un + "/" + f); err != nil {
			t.Errorf("bundle lacks %s", f)
		}
	}
	// With an empty environment: nothing of this machine's library path helps it start.
	cmd := exec.Command(un+"/"+scannerLoader, "--library-path", un+"/lib", un+"/bin/oscap", "--version")
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OpenSCAP command line tool") {
		t.Fatalf("oscap from the bundle: %v: %s", err, out)
	}
	if got := scannerCommand("/run/x", "prof", "/run/x/r.xml", []string{"r1", "r2"}); !strings.Contains(got, "/run/x/lib/ld-linux-x86-64.so.2 --library-path /run/x/lib /run/x/bin/oscap xccdf eval --skip-validation --profile prof --skip-rule r1 --skip-rule r2 --results /run/x/r.xml /run/x/ds.xml") {
		t.Errorf("scannerCommand = %s", got)
	}
}

// The waivers of the repository's profiles load: a YAML slip there breaks make audit only.
func TestRepositoryWaiversLoad(t *testing.T) {
	ws, err := LoadWaivers("../../profiles/base.waivers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) == 0 {
		t.Fatal("no waivers")
	}
}
