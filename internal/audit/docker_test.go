package audit

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/firstboot"
	"github.com/mantlet/mantlet/internal/spec"
)

// baseDocker is the docker section of the repository's base profile, as the build expands it.
func baseDocker(t *testing.T) *spec.PlanDocker {
	t.Helper()
	img, err := os.ReadFile("../../images/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	imgPath := filepath.Join(dir, "node.yaml")
	img = append(img, "mirror:\n  debian: http://mirror.example/debian\n"...)
	if err := os.WriteFile(imgPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	p, _, err := spec.NewPlan(imgPath, "../../profiles/base.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Docker == nil {
		t.Fatal("the base profile has no docker section")
	}
	return p.Docker
}

// dockerTree is the Docker part of an image built with d: the files the build renders
// (containerd's configuration too),
// Debian's units and /etc/default/docker (testdata/docker.io, from docker.io
// 20.10.24+dfsg1-1+deb12u1), mantlet-firstboot's drop-in, and the dockremap user as the
// customize script makes it. Paths relative to the root.
func dockerTree(t *testing.T, d *spec.PlanDocker) map[string]string {
	t.Helper()
	files := map[string]string{
		"usr/sbin/dockerd":   "",
		"usr/bin/containerd": "",
		"etc/passwd":         "root:x:0:0:root:/root:/bin/bash\ndockremap:x:999:999:Docker user namespaces:/nonexistent:/usr/sbin/nologin\n",
		"etc/subuid":         "dockremap:100000:65536\n",
		"etc/subgid":         "dockremap:100000:65536\n",
	}
	for name, fixture := range map[string]string{
		"lib/systemd/system/docker.service": "docker.service",
		"lib/systemd/system/docker.socket":  "docker.socket",
		"etc/default/docker":                "default-docker",
	} {
		data, err := os.ReadFile(filepath.Join("testdata/docker.io", fixture))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(data)
	}
	for _, f := range firstboot.ImageFiles() {
		if f.Path == firstboot.ComponentDropInPath("docker.service") {
			files[strings.TrimPrefix(f.Path, "/")] = string(f.Data)
		}
	}
	for path, data := range map[string][]byte{
		spec.DockerDaemonJSON:    spec.RenderDockerDaemon(d),
		spec.DockerDropIn:        spec.RenderDockerDropIn(d),
		spec.ContainersSlicePath: spec.RenderContainersSlice(d),
		spec.ContainerdConfig:    spec.RenderContainerdConfig(),
	} {
		files[strings.TrimPrefix(path, "/")] = string(data)
	}
	return files
}

func policy(d *spec.PlanDocker) DockerPolicy {
	return DockerPolicy{Configured: true, UsernsRemapOptOut: d.UsernsRemapOptOutReason, MemoryMax: d.ContainersMemoryMax}
}

// CheckDocker passes what the build renders from the base profile, with and without TCP, and
// fails every variant that breaks one of the daemon's rules.
func TestCheckDocker(t *testing.T) {
	if fs, _ := CheckDocker(tree(t, map[string]string{"etc/motd": ""}), DockerPolicy{}); len(fs) > 0 {
		t.Errorf("no docker: %s", findings(fs))
	}
	if fs, _ := CheckDocker(tree(t, map[string]string{"etc/motd": ""}), DockerPolicy{Configured: true}); !strings.Contains(findings(fs), "missing, although the profiles configure Docker") {
		t.Errorf("docker configured but missing: %s", findings(fs))
	}
	d := baseDocker(t)
	good := dockerTree(t, d)
	if fs, w := CheckDocker(tree(t, good), policy(d)); len(fs)+len(w) > 0 {
		t.Errorf("what the build renders from the base profile: %s, waived %s", findings(fs), findings(w))
	}
	tcp := *d
	tcp.TCPPort = 2376
	if fs, w := CheckDocker(tree(t, dockerTree(t, &tcp)), policy(&tcp)); len(fs)+len(w) > 0 {
		t.Errorf("TCP with TLS: %s, waived %s", findings(fs), findings(w))
	}

	edit := func(path, from, to string) func(map[string]string) {
		return func(files map[string]string) {
			if !strings.Contains(files[path], from) {
				t.Fatalf("%s has no %q:\n%s", path, from, files[path])
			}
			files[path] = strings.Replace(files[path], from, to, 1)
		}
	}
	set := func(path, content string) func(map[string]string) {
		return func(files map[string]string) { files[path] = content }
	}
	del := func(path string) func(map[string]string) {
		return func(files map[string]string) { delete(files, path) }
	}
	const json, slice, dropIn = "etc/docker/daemon.json", "etc/systemd/system/mantlet-containers.slice", "etc/systemd/system/docker.service.d/50-mantlet.conf"
	for name, tc := range map[string]struct {
		change []func(map[string]string)
		pol    DockerPolicy
		want   string
	}{
		"no daemon.json": {[]func(map[string]string){del(json)}, policy(d), "daemon.json: open"},
		"bad json":       {[]func(map[string]string){set(json, "{")}, policy(d), "daemon.json: unexpected end"},
		"icc":            {[]func(map[string]string){edit(json, `"icc": false`, `"icc": true`)}, policy(d), "daemon.json icc: want false"},
		"new privileges": {[]func(map[string]string){edit(json, `"no-new-privileges": true`, `"no-new-privileges": false`)}, policy(d), "no-new-privileges: want true"},
		"no live-restore": {[]func(map[string]string){edit(json, `  "live-restore": true,
`, "")}, policy(d), "live-restore: want true"},
		"userland proxy": {[]func(map[string]string){edit(json, `"userland-proxy": false`, `"userland-proxy": true`)}, policy(d), "userland-proxy: want false"},
		"no log limit":   {[]func(map[string]string){edit(json, `"max-size": "10m"`, `"compress": "true"`)}, policy(d), "no max-size"},
		"insecure":       {[]func(map[string]string){edit(json, `"insecure-registries": []`, `"insecure-registries": ["r:5000"]`)}, policy(d), "insecure-registries"},
		"no userns": {[]func(map[string]string){edit(json, `  "userns-remap": "default",
`, "")}, policy(d), "userns-remap: not set"},
		"no dockremap":   {[]func(map[string]string){set("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")}, policy(d), "no user dockremap"},
		"no subuid":      {[]func(map[string]string){set("etc/subuid", "admin:100000:65536\n")}, policy(d), "/etc/subuid: no range"},
		"small subgid":   {[]func(map[string]string){set("etc/subgid", "dockremap:100000:1000\n")}, policy(d), "/etc/subgid: no range"},
		"tcp in json":    {[]func(map[string]string){edit(json, `"fd://"`, `"fd://", "tcp://0.0.0.0:2375"`)}, policy(d), "tcp://0.0.0.0:2375 without tlsverify"},
		"tcp in drop-in": {[]func(map[string]string){set("etc/systemd/system/docker.service.d/tcp.conf", "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H tcp://0.0.0.0:2375\n")}, policy(d), "listens on tcp://0.0.0.0:2375 without --tlsverify"},
		"tcp in DOCKER_OPTS": {[]func(map[string]string){del(dropIn), edit(json, `  "hosts": [
    "fd://"
  ],
`, ""), set("etc/default/docker", "DOCKER_OPTS=\"--host=tcp://0.0.0.0:2375\"\n")}, policy(d), "listens on tcp://0.0.0.0:2375 without --tlsverify"},
		"debian ExecStart with hosts":    {[]func(map[string]string){del(dropIn)}, policy(d), "ExecStart has -H while daemon.json has \"hosts\": dockerd refuses to start"},
		"tcp socket":                     {[]func(map[string]string){set("etc/systemd/system/docker.socket.d/tcp.conf", "[Socket]\nListenStream=0.0.0.0:2375\n")}, policy(d), "ListenStream=0.0.0.0:2375"},
		"no cgroup-parent":               {[]func(map[string]string){edit(json, `"cgroup-parent": "mantlet-containers.slice"`, `"cgroup-parent": ""`)}, policy(d), "cgroup-parent: not set"},
		"cgroupfs":                       {[]func(map[string]string){edit(json, "native.cgroupdriver=systemd", "native.cgroupdriver=cgroupfs")}, policy(d), "native.cgroupdriver=cgroupfs"},
		"not a slice":                    {[]func(map[string]string){edit(json, `"cgroup-parent": "mantlet-containers.slice"`, `"cgroup-parent": "/docker"`)}, policy(d), "is not a systemd slice"},
		"no slice unit":                  {[]func(map[string]string){del(slice)}, policy(d), "mantlet-containers.slice: no such unit"},
		"no MemoryMax":                   {[]func(map[string]string){edit(slice, "MemoryMax=4G\n", "")}, policy(d), "no MemoryMax"},
		"MemoryMax dropped by a drop-in": {[]func(map[string]string){set("etc/systemd/system/mantlet-containers.slice.d/x.conf", "[Slice]\nMemoryMax=infinity\n")}, policy(d), "MemoryMax=infinity"},
		"containerd with CRI":            {[]func(map[string]string){del("etc/containerd/config.toml")}, policy(d), "the CRI plugin is not disabled"},
		"MemoryMax not the profile's":    {[]func(map[string]string){edit(slice, "MemoryMax=4G", "MemoryMax=8G")}, policy(d), "MemoryMax=8G, the profiles say 4G"},
	} {
		t.Run(name, func(t *testing.T) {
			files := maps.Clone(good)
			for _, c := range tc.change {
				c(files)
			}
			fs, w := CheckDocker(tree(t, files), tc.pol)
			if got := findings(fs); !strings.Contains(got, tc.want) {
				t.Errorf("findings %q, want %q", got, tc.want)
			}
			if len(w) > 0 {
				t.Errorf("waived: %s", findings(w))
			}
		})
	}
}

// A profile's opt-out of userns-remap is reported as waived, with its reason, not as a finding.
func TestCheckDockerUsernsOptOut(t *testing.T) {
	d := *baseDocker(t)
	d.UsernsRemap, d.UsernsRemapOptOutReason = false, "the storage plugin needs host ids"
	fs, w := CheckDocker(tree(t, dockerTree(t, &d)), policy(&d))
	if len(fs) > 0 || findings(w) != "docker: daemon.json userns-remap: not set: the storage plugin needs host ids" {
		t.Errorf("findings %q, waived %q", findings(fs), findings(w))
	}
}
