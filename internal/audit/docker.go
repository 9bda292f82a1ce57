package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// DockerPolicy is what the profiles ask of the Docker daemon (the plan's docker section).
// The zero value holds an image with dockerd to the strictest: userns-remap on, any memory
// limit on the containers' slice.
type DockerPolicy struct {
	// Configured: the profiles have a docker section, so the image must have dockerd.
	Configured bool
	// UsernsRemapOptOut is the profiles' reason for running without userns-remap ("" none):
	// its absence is then reported as waived, with the reason.
	UsernsRemapOptOut string
	// MemoryMax is the MemoryMax the containers' slice must have, as systemd reads it (4G,
	// 75%); "" for any limit.
	MemoryMax string
}

// dockerDaemon is the part of /etc/docker/daemon.json the checks read.
type dockerDaemon struct {
	ICC                *bool             `json:"icc"`
	NoNewPrivileges    *bool             `json:"no-new-privileges"`
	LiveRestore        *bool             `json:"live-restore"`
	UserlandProxy      *bool             `json:"userland-proxy"`
	LogDriver          string            `json:"log-driver"`
	LogOpts            map[string]string `json:"log-opts"`
	InsecureRegistries []string          `json:"insecure-registries"`
	UsernsRemap        string            `json:"userns-remap"`
	Hosts              []string          `json:"hosts"`
	TLSVerify          *bool             `json:"tlsverify"`
	TLSCACert          string            `json:"tlscacert"`
	TLSCert            string            `json:"tlscert"`
	TLSKey             string            `json:"tlskey"`
	CgroupParent       string            `json:"cgroup-parent"`
	ExecOpts           []string          `json:"exec-opts"`
}

// tls reports whether the daemon verifies TCP clients: tlsverify with a CA, a certificate
// and a key.
func (d *dockerDaemon) tls() bool {
	return d.TLSVerify != nil && *d.TLSVerify && d.TLSCACert != "" && d.TLSCert != "" && d.TLSKey != ""
}

// CheckDocker checks the Docker daemon of the tree at root, when it has one (or pol says it
// must): daemon.json, docker.service and docker.socket with their drop-ins, the slice the
// containers run in and its memory limit, the userns-remap user, and containerd without CRI. Findings pol accepts
// come back apart, as waived, with the profile's reason.
func CheckDocker(root string, pol DockerPolicy) (findings, waived []Finding) {
	bad := func(subject, format string, a ...any) {
		findings = append(findings, Finding{Check: "docker", Subject: subject, Msg: fmt.Sprintf(format, a...)})
	}
	im, err := openImage(root)
	if err != nil {
		bad(root, "%v", err)
		return findings, nil
	}
	defer im.close()
	if !im.isFile("/usr/sbin/dockerd") && !im.isFile("/usr/bin/dockerd") {
		if pol.Configured {
			bad("/usr/sbin/dockerd", "missing, although the profiles configure Docker")
		}
		return findings, nil
	}
	data, err := im.readFile("/etc/docker/daemon.json")
	if err != nil {
		bad("/etc/docker/daemon.json", "%v", err)
		return findings, nil
	}
	var d dockerDaemon
	if err := json.Unmarshal(data, &d); err != nil {
		bad("/etc/docker/daemon.json", "%v", err)
		return findings, nil
	}
	want := func(key string, v *bool, w bool) {
		if v == nil || *v != w {
			bad("daemon.json "+key, "want %v", w)
		}
	}
	want("icc", d.ICC, false)
	want("no-new-privileges", d.NoNewPrivileges, true)
	want("live-restore", d.LiveRestore, true)
	want("userland-proxy", d.UserlandProxy, false)
	if (d.LogDriver == "" || d.LogDriver == "json-file" || d.LogDriver == "local") && d.LogOpts["max-size"] == "" {
		bad("daemon.json log-opts", "no max-size: container logs grow without limit")
	}
	if len(d.InsecureRegistries) > 0 {
		bad("daemon.json insecure-registries", "%v: registries without TLS", d.InsecureRegistries)
	}
	for _, h := range d.Hosts {
		if strings.HasPrefix(h, "tcp://") && !d.tls() {
			bad("daemon.json hosts", "%s without tlsverify, tlscacert, tlscert and tlskey", h)
		}
	}
	switch {
	case d.UsernsRemap == "" && pol.UsernsRemapOptOut != "":
		waived = append(waived, Finding{Check: "docker", Subject: "daemon.json userns-remap", Msg: "not set: " + pol.UsernsRemapOptOut})
	case d.UsernsRemap == "":
		bad("daemon.json userns-remap", "not set: root in a container is root on the node")
	default:
		findings = append(findings, checkRemapUser(im, d.UsernsRemap)...)
	}
	findings = append(findings, checkSlice(im, &d, pol)...)
	findings = append(findings, checkDockerUnits(im, &d, pol)...)
	findings = append(findings, checkContainerd(im)...)
	return findings, waived
}

// checkContainerd checks that containerd runs without the CRI plugin, which dockerd does not
// use: it serves Kubernetes' API on containerd's socket and a streaming server on TCP.
func checkContainerd(im *image) []Finding {
	if !im.isFile("/usr/bin/containerd") {
		return nil
	}
	data, err := im.readFile("/etc/containerd/config.toml")
	if err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "disabled_plugins") && (strings.Contains(l, `"io.containerd.grpc.v1.cri"`) || strings.Contains(l, `"cri"`)) {
				return nil
			}
		}
	}
	return []Finding{{Check: "docker", Subject: "/etc/containerd/config.toml", Msg: "the CRI plugin is not disabled: Kubernetes' API on containerd's socket and a streaming server on a TCP port"}}
}

// checkRemapUser checks that the user of userns-remap exists with subordinate ids, so that
// dockerd does not make one (useradd, usermod) when it starts.
func checkRemapUser(im *image, remap string) []Finding {
	user, _, _ := strings.Cut(remap, ":")
	if user == "default" {
		user = "dockremap"
	}
	var fs []Finding
	if !hasLine(im, "/etc/passwd", user+":") {
		fs = append(fs, Finding{Check: "docker", Subject: "/etc/passwd", Msg: fmt.Sprintf("no user %s for userns-remap %q: dockerd would make it on the node", user, remap)})
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		if !hasSubIDs(im, f, user) {
			fs = append(fs, Finding{Check: "docker", Subject: f, Msg: fmt.Sprintf("no range of at least 65536 ids for %s (userns-remap)", user)})
		}
	}
	return fs
}

func hasLine(im *image, file, prefix string) bool {
	data, _ := im.readFile(file)
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// hasSubIDs reports whether an /etc/subuid-style file gives user a range of 65536 or more.
func hasSubIDs(im *image, file, user string) bool {
	data, _ := im.readFile(file)
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Split(strings.TrimSpace(l), ":")
		if len(f) == 3 && f[0] == user {
			if n, err := strconv.Atoi(f[2]); err == nil && n >= 65536 {
				return true
			}
		}
	}
	return false
}

// checkSlice checks that containers run in a systemd slice with a memory limit.
func checkSlice(im *image, d *dockerDaemon, pol DockerPolicy) []Finding {
	var fs []Finding
	bad := func(subject, format string, a ...any) {
		fs = append(fs, Finding{Check: "docker", Subject: subject, Msg: fmt.Sprintf(format, a...)})
	}
	if slices.Contains(d.ExecOpts, "native.cgroupdriver=cgroupfs") {
		bad("daemon.json exec-opts", "native.cgroupdriver=cgroupfs: containers are not placed in systemd's slices")
	}
	slice := d.CgroupParent
	switch {
	case slice == "":
		bad("daemon.json cgroup-parent", "not set: containers run in system.slice, without a memory limit of their own")
		return fs
	case !strings.HasSuffix(slice, ".slice") || strings.Contains(slice, "/"):
		bad("daemon.json cgroup-parent", "%q is not a systemd slice (NAME.slice)", slice)
		return fs
	}
	files, masked := unitFiles(im, slice)
	if masked != "" {
		bad(masked, "%s is masked: containers cannot be started in it", slice)
		return fs
	}
	if len(files) == 0 {
		bad("daemon.json cgroup-parent", "%s: no such unit in the image: nothing limits its memory", slice)
		return fs
	}
	settings, problems := readUnit(im, files)
	fs = append(fs, problems...)
	max := effective(settings, "Slice", "MemoryMax")
	switch {
	case len(max) == 0:
		bad(files[0], "no MemoryMax: the containers' memory is not limited")
	case max[len(max)-1].Value == "infinity":
		bad(max[len(max)-1].File, "MemoryMax=infinity: the containers' memory is not limited")
	case pol.MemoryMax != "" && max[len(max)-1].Value != pol.MemoryMax:
		bad(max[len(max)-1].File, "MemoryMax=%s, the profiles say %s", max[len(max)-1].Value, pol.MemoryMax)
	}
	return fs
}

// hostFlag matches the -H/--host flags of a dockerd command line, with their address.
var hostFlag = regexp.MustCompile(`(?:^|\s)(?:-H|--host)(?:\s*=\s*|\s+)(\S+)`)

// checkDockerUnits reads docker.service and docker.socket with their drop-ins: no -H tcp://
// without TLS in any ExecStart, no -H next to "hosts" in daemon.json (dockerd refuses to
// start), no TCP socket passed as fd:// (it has no TLS), nothing insecure in DOCKER_OPTS.
func checkDockerUnits(im *image, d *dockerDaemon, pol DockerPolicy) []Finding {
	var fs []Finding
	bad := func(subject, format string, a ...any) {
		fs = append(fs, Finding{Check: "docker", Subject: subject, Msg: fmt.Sprintf(format, a...)})
	}
	files, masked := unitFiles(im, "docker.service")
	if masked != "" && pol.Configured {
		bad(masked, "docker.service is masked, although the profiles configure Docker: dockerd never starts")
	}
	service, problems := readUnit(im, files)
	fs = append(fs, problems...)
	opts := dockerOpts(im)
	for _, s := range service {
		if s.Section != "Service" || s.Key != "ExecStart" {
			continue
		}
		line := strings.ReplaceAll(s.Value, "$DOCKER_OPTS", opts)
		line = strings.ReplaceAll(line, "${DOCKER_OPTS}", opts)
		for _, m := range hostFlag.FindAllStringSubmatch(line, -1) {
			if strings.HasPrefix(m[1], "tcp://") && !strings.Contains(line, "--tlsverify") && !d.tls() {
				bad(s.File, "ExecStart: the daemon listens on %s without --tlsverify", m[1])
			}
		}
		for _, flag := range []string{"--insecure-registry", "--icc=true", "--userland-proxy=true"} {
			if strings.Contains(line, flag) {
				bad(s.File, "ExecStart has %s", flag)
			}
		}
	}
	if exec := effective(service, "Service", "ExecStart"); len(exec) > 0 && len(d.Hosts) > 0 {
		last := exec[len(exec)-1]
		cmd := strings.ReplaceAll(strings.ReplaceAll(last.Value, "${DOCKER_OPTS}", opts), "$DOCKER_OPTS", opts)
		if hostFlag.MatchString(cmd) {
			bad(last.File, "ExecStart has -H while daemon.json has \"hosts\": dockerd refuses to start")
		}
	}
	files, _ = unitFiles(im, "docker.socket")
	socket, problems := readUnit(im, files)
	fs = append(fs, problems...)
	for _, s := range effective(socket, "Socket", "ListenStream") {
		if !strings.HasPrefix(s.Value, "/") {
			bad(s.File, "ListenStream=%s: a TCP socket passed to dockerd as fd:// has no TLS", s.Value)
		}
	}
	return fs
}

// dockerOpts is DOCKER_OPTS of /etc/default/docker (the unit's EnvironmentFile), "" unset.
func dockerOpts(im *image) string {
	data, err := im.readFile("/etc/default/docker")
	if err != nil {
		return ""
	}
	opts := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "))
		if v, ok := strings.CutPrefix(line, "DOCKER_OPTS="); ok {
			opts = strings.Trim(v, `"'`)
		}
	}
	return opts
}
