package spec

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/nodeconfig"
)

func planFile(t *testing.T, p *Plan, path string) string {
	t.Helper()
	i := slices.IndexFunc(p.Files, func(f PlanFile) bool { return f.Path == path })
	if i < 0 {
		t.Fatalf("the plan has no %s", path)
	}
	return string(p.Files[i].Data)
}

func TestNewPlanDocker(t *testing.T) {
	dir := tree(t, map[string]string{
		"image.yaml": treeImage,
		"base.yaml": `name: base
firewall:
  tcp: [22]
docker:
  containers_memory_max: 4GiB
`,
		"top.yaml": `name: top
include: [base.yaml]
docker:
  tcp: {tls: true}
  userns_remap: false
  userns_remap_optout_reason: the role's storage plugin needs host ids
  log_max_size: 50MiB
`,
	})
	base, warns, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, "base.yaml"), t.TempDir())
	if err != nil || len(warns) > 0 {
		t.Fatalf("warnings %v, error %v", warns, err)
	}
	want := PlanDocker{UsernsRemap: true, ContainersMemoryMax: "4G", LogMaxSize: 10 * MiB, LogMaxFiles: 3}
	if *base.Docker != want {
		t.Errorf("base: %+v, want the defaults %+v", *base.Docker, want)
	}
	if !slices.Contains(base.Packages, DockerPackage) || !slices.Equal(base.Enable, []string{"containerd.service", "docker.socket", "docker.service", "nftables.service"}) {
		t.Errorf("packages %v, enable %v", base.Packages, base.Enable)
	}
	if ctr := planFile(t, base, ContainerdConfig); !strings.Contains(ctr, `disabled_plugins = ["io.containerd.grpc.v1.cri"]`) {
		t.Errorf("containerd keeps CRI:\n%s", ctr)
	}
	if !slices.Equal(base.Firewall.TCP, []int{22}) {
		t.Errorf("the unix socket only, yet the firewall has %v", base.Firewall.TCP)
	}
	if dropIn := planFile(t, base, DockerDropIn); strings.Contains(dropIn, "AssertPathExists") || !strings.Contains(dropIn, "ExecStart=\nExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock\n") || !strings.Contains(dropIn, "\nTimeoutStartSec=10min\n") {
		t.Errorf("drop-in:\n%s", dropIn)
	}

	top, warns, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, "top.yaml"), t.TempDir())
	if err != nil || len(warns) > 0 {
		t.Fatalf("warnings %v, error %v", warns, err)
	}
	want = PlanDocker{TCPPort: 2376, UsernsRemapOptOutReason: "the role's storage plugin needs host ids", ContainersMemoryMax: "4G", LogMaxSize: 50 * MiB, LogMaxFiles: 3}
	if *top.Docker != want {
		t.Errorf("top: %+v, want %+v", *top.Docker, want)
	}
	if !slices.Equal(top.Firewall.TCP, []int{22, 2376}) {
		t.Errorf("TCP 2376 is not opened: %v", top.Firewall.TCP)
	}
	var daemon map[string]any
	if err := json.Unmarshal([]byte(planFile(t, top, DockerDaemonJSON)), &daemon); err != nil {
		t.Fatal(err)
	}
	for key, v := range map[string]any{
		"hosts": []any{"fd://", "tcp://0.0.0.0:2376"}, "tlsverify": true,
		"tlscacert": DockerTLSCA, "tlscert": DockerTLSCert, "tlskey": DockerTLSKey,
		"log-opts": map[string]any{"max-size": "50m", "max-file": "3"},
	} {
		if got, _ := json.Marshal(daemon[key]); string(got) != mustJSON(t, v) {
			t.Errorf("daemon.json %s: %s, want %s", key, got, mustJSON(t, v))
		}
	}
	if _, ok := daemon["userns-remap"]; ok {
		t.Errorf("userns-remap is set although the profile opted out")
	}
	dropIn := planFile(t, top, DockerDropIn)
	for _, s := range []string{"# userns-remap is off: the role's storage plugin needs host ids\n", "AssertPathExists=" + DockerTLSKey + "\n"} {
		if !strings.Contains(dropIn, s) {
			t.Errorf("drop-in lacks %q:\n%s", s, dropIn)
		}
	}
	if nft := planFile(t, top, NftablesConf); !strings.Contains(nft, "oifname \"docker0\" ct status dnat meta l4proto 6 ct original proto-dst 2376 accept") {
		t.Errorf("nftables.conf:\n%s", nft)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Problems no single profile shows: no memory limit anywhere, docker.io without a section.
func TestNewPlanDockerProfiles(t *testing.T) {
	for name, tc := range map[string]struct {
		profiles     map[string]string
		file         string
		path, msg    string
		line         int
		unrestricted bool
	}{
		"no memory limit": {map[string]string{
			"base.yaml": "name: base\ndocker:\n  log_max_files: 2\n",
			"top.yaml":  "name: top\ninclude: [base.yaml]\ndocker:\n  tcp: {tls: true}\n",
		}, "base.yaml", "docker.containers_memory_max", "required here or in a profile applied after this one", 2, false},
		"docker.io alone": {map[string]string{
			"base.yaml": "name: base\n",
			"top.yaml":  "name: top\ninclude: [base.yaml]\npackages:\n  - curl\n  - docker.io\n",
		}, "top.yaml", "packages[1]", "docker.io without a docker section would run with Debian's defaults", 5, false},
		"docker.io with a section elsewhere": {map[string]string{
			"base.yaml": "name: base\ndocker:\n  containers_memory_max: 50%\n",
			"top.yaml":  "name: top\ninclude: [base.yaml]\npackages: [docker.io]\n",
		}, "", "", "", 0, true},
	} {
		t.Run(name, func(t *testing.T) {
			files := map[string]string{"image.yaml": treeImage}
			for k, v := range tc.profiles {
				files[k] = v
			}
			dir := tree(t, files)
			_, _, err := NewPlan(filepath.Join(dir, "image.yaml"), filepath.Join(dir, "top.yaml"), t.TempDir())
			if tc.unrestricted {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			es, ok := asErrors(err)
			if !ok || !findProblem(es, tc.path, tc.line, tc.msg) || es[0].File != filepath.Join(dir, tc.file) {
				t.Errorf("want %s:%d: %s: %q, got %v", tc.file, tc.line, tc.path, tc.msg, err)
			}
		})
	}
}

func TestSystemdMemory(t *testing.T) {
	for in, want := range map[string]string{"4GiB": "4G", "4G": "4G", "1536MiB": "1536M", "64MiB": "64M", "75%": "75%", "100%": "100%", "1TiB": "1T", "67108865B": "67108865"} {
		if got, err := systemdMemory(in); err != nil || got != want {
			t.Errorf("systemdMemory(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0%", "101%", "075%", "1.5G", "4GB", "63MiB", "infinity", "-1G"} {
		if got, err := systemdMemory(in); err == nil {
			t.Errorf("systemdMemory(%q) = %q, want an error", in, got)
		}
	}
	if got := sizeSuffix(10*MiB, "kmg"); got != "10m" {
		t.Errorf("docker log size: %q", got)
	}
	if got := sizeSuffix(1536*KiB+1, "kmg"); got != "1572865" {
		t.Errorf("bytes: %q", got)
	}
}

// The node certificates dockerd reads are where `mantlet ignition` writes them.
func TestDockerTLSPaths(t *testing.T) {
	if DockerTLSCA != nodeconfig.CAPath || DockerTLSCert != nodeconfig.CertPath || DockerTLSKey != nodeconfig.KeyPath {
		t.Errorf("docker TLS %s %s %s, node config %s %s %s", DockerTLSCA, DockerTLSCert, DockerTLSKey, nodeconfig.CAPath, nodeconfig.CertPath, nodeconfig.KeyPath)
	}
}
