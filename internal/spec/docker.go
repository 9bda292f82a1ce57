package spec

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Where the build renders the docker section, and what the rendered files name.
const (
	DockerDaemonJSON = "/etc/docker/daemon.json"
	// DockerDropIn replaces ExecStart of Debian's docker.service: no -H flags, which dockerd
	// refuses next to "hosts" in daemon.json.
	DockerDropIn = "/etc/systemd/system/docker.service.d/50-mantlet.conf"
	// ContainersSlice is the cgroup parent of every container (daemon.json cgroup-parent).
	ContainersSlice     = "mantlet-containers.slice"
	ContainersSlicePath = "/etc/systemd/system/" + ContainersSlice
	// ContainerdConfig replaces Debian's: the same, without the CRI plugin.
	ContainerdConfig = "/etc/containerd/config.toml"
	// DockerPackage is what a docker section installs.
	DockerPackage = "docker.io"
	// DefaultDockerTCPPort is Docker's TLS port.
	DefaultDockerTCPPort = 2376
	// DockerBridge is the network interface of Docker's default bridge network.
	DockerBridge = "docker0"
)

// The node certificates dockerd verifies TCP clients with, as `mantlet ignition` writes them
// (internal/nodeconfig; a test keeps the two in step).
const (
	DockerTLSCA   = "/etc/mantlet/tls/ca.pem"
	DockerTLSCert = "/etc/mantlet/tls/node.pem"
	DockerTLSKey  = "/etc/mantlet/tls/node-key.pem"
)

// userns-remap "default" maps the ids of containers to the subordinate ids of DockerRemapUser,
// which the build makes (dockerd would otherwise run useradd and usermod when it first starts).
const (
	DockerRemapUser = "dockremap"
	// DockerSubIDStart and DockerSubIDCount are its range in /etc/subuid and /etc/subgid: the
	// first one useradd hands out (SUB_UID_MIN), so users made later get the next ones.
	DockerSubIDStart = 100000
	DockerSubIDCount = 65536
)

// Defaults of the docker section.
const (
	DefaultDockerLogMaxSize  = 10 * MiB
	DefaultDockerLogMaxFiles = 3
)

// dockerRendered are the image paths the build renders from the docker section.
var dockerRendered = []string{DockerDaemonJSON, DockerDropIn, ContainersSlicePath, ContainerdConfig}

// docker checks a profile's docker section.
func (c *checker) docker(d *Docker) {
	if t := d.TCP; t != nil {
		if t.Port != 0 && (t.Port < 1 || t.Port > 65535) {
			c.errorf("docker.tcp.port", "%d is not a port from 1 to 65535", t.Port)
		}
		switch {
		case t.TLS == nil:
			c.errorf("docker.tcp.tls", "required: set tls: true (dockerd verifies every client against the cluster CA with the node certificates), or remove docker.tcp to keep the daemon on its unix socket")
		case !*t.TLS:
			c.errorf("docker.tcp.tls", "false is refused: dockerd never listens on TCP without TLS and client certificates; set tls: true, or remove docker.tcp to keep the daemon on its unix socket")
		}
	}
	reason := strings.TrimSpace(d.UsernsRemapOptOutReason)
	switch {
	case d.UsernsRemap != nil && !*d.UsernsRemap && reason == "":
		c.errorf("docker.userns_remap", "false needs docker.userns_remap_optout_reason: say why this role's containers must run without user namespaces (root in a container is then root on the node)")
	case d.UsernsRemapOptOutReason != "" && (d.UsernsRemap == nil || *d.UsernsRemap):
		c.warnf("docker.userns_remap_optout_reason", "ignored: userns_remap is not false in this profile")
	}
	if strings.IndexFunc(d.UsernsRemapOptOutReason, unicode.IsControl) >= 0 {
		c.errorf("docker.userns_remap_optout_reason", "one line without control characters, please")
	}
	if d.ContainersMemoryMax != "" {
		if _, err := systemdMemory(d.ContainersMemoryMax); err != nil {
			c.errorf("docker.containers_memory_max", "%v", err)
		}
	}
	if d.LogMaxSize != "" {
		if n, err := ParseSize(d.LogMaxSize); err != nil {
			c.errorf("docker.log_max_size", "%v", err)
		} else if n < KiB {
			c.errorf("docker.log_max_size", "%s is less than 1KiB: a container's log would rotate on every line", d.LogMaxSize)
		}
	}
	if c.pos.Has("docker.log_max_files") && d.LogMaxFiles < 1 {
		c.errorf("docker.log_max_files", "%d: at least 1 (the file being written)", d.LogMaxFiles)
	}
}

// systemdMemory turns a memory limit of a profile (a size such as 4GiB, or a percentage such
// as 75%) into the form systemd's MemoryMax= reads: 4G, 75%.
func systemdMemory(s string) (string, error) {
	if num, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 100 || num != strconv.Itoa(n) {
			return "", fmt.Errorf("%q is not a percentage from 1%% to 100%% (of the machine's memory)", s)
		}
		return s, nil
	}
	n, err := ParseSize(s)
	if err != nil {
		return "", fmt.Errorf("%w, or a percentage of the machine's memory such as 75%%", err)
	}
	if n < 64*MiB {
		return "", fmt.Errorf("%s is less than 64MiB: no container would start", s)
	}
	return sizeSuffix(n, "KMGT"), nil
}

// sizeSuffix writes n bytes with the largest binary unit that divides it exactly, with the
// one-letter units of systemd (KMGT) or Docker (kmg); plain bytes when none does.
func sizeSuffix(n int64, units string) string {
	unit := ""
	for i := range units {
		if n%KiB != 0 {
			break
		}
		n /= KiB
		unit = units[i : i+1]
	}
	return strconv.FormatInt(n, 10) + unit
}

// mergeDocker applies one profile's docker section to the plan's.
func mergeDocker(p *PlanDocker, d *Docker) *PlanDocker {
	if p == nil {
		p = &PlanDocker{UsernsRemap: true, LogMaxSize: DefaultDockerLogMaxSize, LogMaxFiles: DefaultDockerLogMaxFiles}
	}
	if d.TCP != nil {
		p.TCPPort = cmp.Or(d.TCP.Port, DefaultDockerTCPPort)
	}
	if d.UsernsRemap != nil {
		p.UsernsRemap = *d.UsernsRemap
		p.UsernsRemapOptOutReason = ""
		if !p.UsernsRemap {
			p.UsernsRemapOptOutReason = strings.TrimSpace(d.UsernsRemapOptOutReason)
		}
	}
	if d.ContainersMemoryMax != "" {
		p.ContainersMemoryMax, _ = systemdMemory(d.ContainersMemoryMax) // validated
	}
	if d.LogMaxSize != "" {
		p.LogMaxSize, _ = ParseSize(d.LogMaxSize)
	}
	if d.LogMaxFiles != 0 {
		p.LogMaxFiles = d.LogMaxFiles
	}
	return p
}

// dockerDaemon is daemon.json, in the order it is written.
type dockerDaemon struct {
	// Hosts: the socket of docker.socket (fd://), and the TCP port with TLS when asked for.
	Hosts              []string          `json:"hosts"`
	TLSVerify          bool              `json:"tlsverify,omitempty"`
	TLSCACert          string            `json:"tlscacert,omitempty"`
	TLSCert            string            `json:"tlscert,omitempty"`
	TLSKey             string            `json:"tlskey,omitempty"`
	ICC                bool              `json:"icc"`
	NoNewPrivileges    bool              `json:"no-new-privileges"`
	LiveRestore        bool              `json:"live-restore"`
	UserlandProxy      bool              `json:"userland-proxy"`
	InsecureRegistries []string          `json:"insecure-registries"`
	LogDriver          string            `json:"log-driver"`
	LogOpts            map[string]string `json:"log-opts"`
	UsernsRemap        string            `json:"userns-remap,omitempty"`
	ExecOpts           []string          `json:"exec-opts"`
	CgroupParent       string            `json:"cgroup-parent"`
}

// RenderDockerDaemon renders /etc/docker/daemon.json: a pure function of d, pinned by the
// plan's golden file.
func RenderDockerDaemon(d *PlanDocker) []byte {
	dd := dockerDaemon{
		Hosts:              []string{"fd://"},
		ICC:                false,
		NoNewPrivileges:    true,
		LiveRestore:        true,
		UserlandProxy:      false,
		InsecureRegistries: []string{},
		LogDriver:          "json-file",
		LogOpts:            map[string]string{"max-size": sizeSuffix(d.LogMaxSize, "kmg"), "max-file": strconv.Itoa(d.LogMaxFiles)},
		// systemd, not cgroupfs: the containers' scopes go under the slice systemd limits.
		ExecOpts:     []string{"native.cgroupdriver=systemd"},
		CgroupParent: ContainersSlice,
	}
	if d.TCPPort != 0 {
		dd.Hosts = append(dd.Hosts, fmt.Sprintf("tcp://0.0.0.0:%d", d.TCPPort))
		dd.TLSVerify, dd.TLSCACert, dd.TLSCert, dd.TLSKey = true, DockerTLSCA, DockerTLSCert, DockerTLSKey
	}
	if d.UsernsRemap {
		dd.UsernsRemap = "default"
	}
	out, err := json.MarshalIndent(dd, "", "  ")
	if err != nil {
		panic(err) // cannot happen: strings, bools and string maps
	}
	return append(out, '\n')
}

// RenderDockerDropIn renders the drop-in of docker.service: ExecStart without -H (every
// setting is in daemon.json) and, with TCP, the node certificates asserted before it starts.
func RenderDockerDropIn(d *PlanDocker) []byte {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Generated by mantlet build from the docker section of the profiles. Every setting of")
	w("# dockerd is in %s, where it listens too (\"hosts\": fd://, the socket", DockerDaemonJSON)
	w("# docker.socket passes, and a TCP port only with TLS verification). dockerd refuses a")
	w("# setting given both as a flag and in the file, so ExecStart has no -H, and DOCKER_OPTS")
	w("# of /etc/default/docker is not read. mantlet-firstboot.service runs first (the drop-in")
	w("# 10-mantlet-firstboot.conf): the node's certificates are in place before dockerd starts.")
	if !d.UsernsRemap {
		w("# userns-remap is off: %s", d.UsernsRemapOptOutReason)
	}
	if d.TCPPort != 0 {
		w("[Unit]")
		w("# dockerd listens on TCP %d with TLS: without the node certificates of the node's", d.TCPPort)
		w("# Ignition config it would not start; say so instead of restarting.")
		for _, p := range []string{DockerTLSCA, DockerTLSCert, DockerTLSKey} {
			w("AssertPathExists=%s", p)
		}
		w("")
	}
	w("[Service]")
	w("ExecStart=")
	w("ExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock")
	w("# Debian's unit waits for dockerd without limit (TimeoutStartSec=0): a dockerd that hangs")
	w("# would hold multi-user.target, and the boot would never finish. Ten minutes is ample even")
	w("# under emulation; then the unit fails and the boot-finished line names it.")
	w("TimeoutStartSec=10min")
	return []byte(b.String())
}

// RenderContainersSlice renders the slice every container runs in, with its memory limit.
func RenderContainersSlice(d *PlanDocker) []byte {
	return []byte(`# Generated by mantlet build from docker.containers_memory_max of the profiles: every
# container dockerd starts runs in this slice (daemon.json cgroup-parent), and together they
# may use at most MemoryMax. Its cgroup is /mantlet.slice/` + ContainersSlice + ` (systemd
# nests a slice named a-b in a).
[Unit]
Description=mantlet: the containers Docker runs
Documentation=https://github.com/mantlet/mantlet

[Slice]
MemoryAccounting=yes
MemoryMax=` + d.ContainersMemoryMax + "\n")
}

// RenderContainerdConfig renders containerd's configuration: Debian's (docker.io's containerd
// 1.6) without the CRI plugin, which dockerd does not use.
func RenderContainerdConfig() []byte {
	return []byte(`# Generated by mantlet build with the docker section of the profiles: Debian's containerd
# configuration without the CRI plugin. dockerd does not use CRI (Kubernetes does); the plugin
# would serve a second API on containerd's socket and a streaming server on a TCP port of
# 127.0.0.1.
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
`)
}

// checkDockerProfiles checks the docker sections of the profiles together, which no single
// profile can: when any has one, some profile sets containers_memory_max; docker.io is
// installed only with a docker section, never with Debian's defaults.
func checkDockerProfiles(profiles []profileFile) Errors {
	var errs Errors
	var first *profileFile
	memory := false
	for i := range profiles {
		pf := &profiles[i]
		if d := pf.prof.Docker; d != nil {
			if first == nil {
				first = pf
			}
			memory = memory || d.ContainersMemoryMax != ""
		}
	}
	if first != nil && !memory {
		errs = append(errs, FieldError{File: first.path, Line: first.pos.Line("docker.containers_memory_max"), Path: "docker.containers_memory_max",
			Msg: "required here or in a profile applied after this one: the memory limit of the slice every container runs in, a size such as 4GiB or a percentage such as 75%"})
	}
	if first == nil {
		for _, pf := range profiles {
			for i, pkg := range pf.prof.Packages {
				if pkg == DockerPackage {
					p := fmt.Sprintf("packages[%d]", i)
					errs = append(errs, FieldError{File: pf.path, Line: pf.pos.Line(p), Path: p,
						Msg: DockerPackage + " without a docker section would run with Debian's defaults: add a docker section (which installs it) instead"})
				}
			}
		}
	}
	return errs
}
