package spec

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNewPlanFirewallAndAudit(t *testing.T) {
	dir := tree(t, map[string]string{
		"image.yaml": treeImage,
		"top.yaml": `name: top
include: [base.yaml]
firewall:
  tcp: [443, 22]
  udp: [8301]
audit:
  cis_level2_min: 92
  waivers: top.waivers.yaml
`,
		"base.yaml": `name: base
files:
  - path: /etc/motd
    content: hi
firewall:
  tcp: [22]
audit:
  cis_level1_min: 95
  cis_level2_min: 90
  waivers: base.waivers.yaml
`,
		"base.waivers.yaml": "[]\n",
		"top.waivers.yaml":  "[]\n",
	})
	p, warns, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, "top.yaml"), t.TempDir())
	if err != nil || len(warns) > 0 {
		t.Fatalf("warnings %v, error %v", warns, err)
	}
	if !slices.Equal(p.Firewall.TCP, []int{22, 443}) || !slices.Equal(p.Firewall.UDP, []int{8301}) {
		t.Errorf("firewall: %+v, want tcp [22 443], udp [8301]", p.Firewall)
	}
	if !slices.Contains(p.Packages, "nftables") || !slices.Contains(p.Enable, "nftables.service") {
		t.Errorf("the firewall brings no nftables: packages %v, enable %v", p.Packages, p.Enable)
	}
	last := p.Files[len(p.Files)-1]
	if last.Path != NftablesConf || last.Mode != 0o600 || !strings.Contains(string(last.Data), "tcp dport { 22, 443 } ct state new accept") ||
		!strings.Contains(string(last.Data), "udp dport { 8301 } accept") || !strings.Contains(string(last.Data), "policy drop;") {
		t.Errorf("nftables.conf: %+v\n%s", last, last.Data)
	}
	if p.Audit.CISLevel1Min != 95 || p.Audit.CISLevel2Min != 92 {
		t.Errorf("thresholds: %+v, want 95 (base) and 92 (top)", p.Audit)
	}
	if len(p.Audit.Waivers) != 2 || p.Audit.Waivers[0].Profile != "base" || p.Audit.Waivers[1].Path != filepath.Join(dir, "top.waivers.yaml") {
		t.Errorf("waiver files: %+v", p.Audit.Waivers)
	}
}

func TestNewPlanNoFirewall(t *testing.T) {
	dir := tree(t, map[string]string{"image.yaml": treeImage, "p.yaml": "name: p\n"})
	p, _, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, "p.yaml"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if p.Firewall != nil || slices.Contains(p.Packages, "nftables") || slices.ContainsFunc(p.Files, func(f PlanFile) bool { return f.Path == NftablesConf }) {
		t.Errorf("no profile declares a firewall, yet: %+v, %v", p.Firewall, p.Packages)
	}
}

func TestRenderNftablesNoPorts(t *testing.T) {
	conf := RenderNftables(&Firewall{}, nil)
	if strings.Contains(conf, "dport {") || !strings.Contains(conf, "type filter hook input priority filter; policy drop;") {
		t.Errorf("no ports:\n%s", conf)
	}
}

// The rendered rules load into a real nftables (Debian's nft), in a network namespace of
// their own so that this machine's ruleset is never touched, and load again over themselves
// (a reload), with and without Docker.
func TestRenderNftablesLoads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading rules in a new network namespace needs root")
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed (Debian package nftables; make deps)")
	}
	fw := &Firewall{TCP: []int{22, 2376}, UDP: []int{8301}}
	for name, d := range map[string]*PlanDocker{"plain": nil, "docker": {TCPPort: 2376}} {
		conf := filepath.Join(t.TempDir(), "nftables.conf")
		if err := os.WriteFile(conf, []byte(RenderNftables(fw, d)), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("unshare", "--net", "sh", "-c", `"$0" -f "$1" && "$0" -f "$1" && "$0" list ruleset`, nft, conf).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: nft -f: %v\n%s", name, err, out)
		}
		if d != nil && !strings.Contains(string(out), `oifname "docker0" ct status dnat meta l4proto udp ct original proto-dst 8301 accept`) {
			t.Errorf("%s: the loaded ruleset lacks the published UDP port:\n%s", name, out)
		}
		if strings.Contains(string(out), "[invalid type]") {
			t.Errorf("%s: nft lists an invalid type:\n%s", name, out)
		}
	}
}
