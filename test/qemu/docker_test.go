//go:build qemu

package qemu_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mantlet/mantlet/internal/qemu"
	"github.com/mantlet/mantlet/internal/spec"
)

// dockerInfo is the part of `docker info --format '{{json .}}'` the test reads.
type dockerInfo struct {
	ServerVersion      string
	SecurityOptions    []string
	CgroupDriver       string
	CgroupVersion      string
	LoggingDriver      string
	LiveRestoreEnabled bool
	DockerRootDir      string
}

// checkDocker checks the running Docker daemon of the base profile from inside the machine:
// active on its socket only, userns-remap, the systemd cgroup driver, the slice's memory limit,
// the forward rules, and a container (test/dockerprobe, imported over SSH: the machine reaches
// no registry) that runs without new privileges, as dockremap's ids, in the slice.
func checkDocker(t *testing.T, c *qemu.SSHClient, d *spec.PlanDocker) {
	run := sshRunner(t, c)
	// dockerd under TCG on a loaded machine: give it minutes.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		r, err := c.Run("systemctl is-active docker.service")
		if err != nil {
			t.Fatal(err)
		}
		state := strings.TrimSpace(string(r.Stdout))
		if state == "active" {
			break
		}
		if state == "failed" || time.Now().After(deadline) {
			t.Fatalf("docker.service is %q:\n%s", state, run("sudo -n journalctl -b -u docker.service -u containerd.service --no-pager | tail -n 40"))
		}
		time.Sleep(5 * time.Second)
	}
	if got := run("systemctl is-enabled containerd.service docker.socket docker.service"); got != "enabled\nenabled\nenabled" {
		t.Errorf("is-enabled: %q", got)
	}
	var info dockerInfo
	raw := run("sudo -n docker info --format '{{json .}}'")
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		t.Fatalf("docker info: %v\n%s", err, raw)
	}
	t.Logf("docker info: version %s, security options %v, cgroup driver %s (v%s), logging %s, live restore %v, root %s",
		info.ServerVersion, info.SecurityOptions, info.CgroupDriver, info.CgroupVersion, info.LoggingDriver, info.LiveRestoreEnabled, info.DockerRootDir)
	remapped := fmt.Sprintf("/var/lib/docker/%d.%d", spec.DockerSubIDStart, spec.DockerSubIDStart)
	if !slices.Contains(info.SecurityOptions, "name=userns") || info.DockerRootDir != remapped {
		t.Errorf("userns-remap: security options %v, root %s (want name=userns, %s)", info.SecurityOptions, info.DockerRootDir, remapped)
	}
	if !slices.ContainsFunc(info.SecurityOptions, func(o string) bool { return strings.HasPrefix(o, "name=seccomp") }) ||
		!slices.Contains(info.SecurityOptions, "name=apparmor") {
		t.Errorf("security options %v: want seccomp and apparmor", info.SecurityOptions)
	}
	if info.CgroupDriver != "systemd" || info.LoggingDriver != "json-file" || !info.LiveRestoreEnabled {
		t.Errorf("cgroup driver %s, logging driver %s, live restore %v", info.CgroupDriver, info.LoggingDriver, info.LiveRestoreEnabled)
	}
	want, err := spec.ParseSize(d.ContainersMemoryMax)
	if err != nil {
		t.Fatalf("the base profile's memory limit %q is not a size: %v", d.ContainersMemoryMax, err)
	}
	if got := run("systemctl show -p MemoryMax --value " + spec.ContainersSlice); got != strconv.FormatInt(want, 10) {
		t.Errorf("%s MemoryMax=%s, want %d (%s)", spec.ContainersSlice, got, want, d.ContainersMemoryMax)
	}
	// A dockerd that hangs fails its unit after a while instead of holding the boot forever.
	if got := run("systemctl show -p TimeoutStartUSec --value docker.service"); got != "10min" {
		t.Errorf("docker.service TimeoutStartUSec=%s, want 10min", got)
	}
	// The unix socket only: no TCP listener of dockerd or containerd, not even on loopback
	// (containerd's CRI plugin, disabled, would open one).
	for _, l := range strings.Split(run("sudo -n ss -tlnpH"), "\n") {
		if strings.Contains(l, `"dockerd"`) || strings.Contains(l, `"containerd"`) {
			t.Errorf("listens on TCP: %s", l)
		}
	}
	if got := run("sudo -n nft list chain inet filter forward"); !strings.Contains(got, `iifname "docker0" oifname != "docker0" accept`) {
		t.Errorf("the forward chain lacks docker0:\n%s", got)
	}
	if got := run("sudo -n nft list tables"); !strings.Contains(got, "table ip nat") || !strings.Contains(got, "table inet filter") {
		t.Errorf("tables %q: want dockerd's ip nat next to the firewall's inet filter", got)
	}

	image := probeImage(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	s.Stdin = bytes.NewReader(image)
	out, err := s.CombinedOutput("sudo -n docker import - mantlet-probe:test")
	s.Close()
	if err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	// --cgroupns host: in its own cgroup namespace (the default on cgroup v2) the container
	// would see its cgroup as "/".
	probe := run("sudo -n docker run --rm --cgroupns host --name mantlet-probe mantlet-probe:test /probe")
	t.Logf("probe:\n%s", probe)
	for _, w := range []string{
		"NoNewPrivs:\t1",
		"/proc/self/cgroup: 0::" + sliceCgroup(spec.ContainersSlice) + "/docker-",
		fmt.Sprintf("/proc/self/uid_map: 0 %d %d", spec.DockerSubIDStart, spec.DockerSubIDCount),
	} {
		if !strings.Contains(probe, w) {
			t.Errorf("the probe container lacks %q", w)
		}
	}
}

// sliceCgroup is the cgroup of a systemd slice: a dash in its name nests it in the slice of
// the name's prefix (a-b.slice is /a.slice/a-b.slice).
func sliceCgroup(slice string) string {
	name := strings.TrimSuffix(slice, ".slice")
	path := ""
	for i, r := range name {
		if r == '-' {
			path += "/" + name[:i] + ".slice"
		}
	}
	return path + "/" + slice
}

// probeImage is a tarball holding the static test/dockerprobe as /probe: an image for
// docker import.
func probeImage(t *testing.T) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "probe")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../dockerprobe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "probe", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
