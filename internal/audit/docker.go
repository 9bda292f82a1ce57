package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

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
}

// CheckDocker checks the Docker daemon of the tree at root, when it has one: daemon.json and
// the docker.service unit with its drop-ins.
func CheckDocker(root string) []Finding {
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/dockerd")); err != nil {
		if _, err := os.Stat(filepath.Join(root, "usr/bin/dockerd")); err != nil {
			return nil
		}
	}
	var fs []Finding
	bad := func(subject, format string, a ...any) {
		fs = append(fs, Finding{Check: "docker", Subject: subject, Msg: fmt.Sprintf(format, a...)})
	}
	data, err := os.ReadFile(filepath.Join(root, "etc/docker/daemon.json"))
	if err != nil {
		bad("/etc/docker/daemon.json", "%v", err)
		return fs
	}
	var d dockerDaemon
	if err := json.Unmarshal(data, &d); err != nil {
		bad("/etc/docker/daemon.json", "%v", err)
		return fs
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
	if d.UsernsRemap == "" {
		bad("daemon.json userns-remap", "not set")
	}
	tls := d.TLSVerify != nil && *d.TLSVerify && d.TLSCACert != "" && d.TLSCert != "" && d.TLSKey != ""
	for _, h := range d.Hosts {
		if strings.HasPrefix(h, "tcp://") && !tls {
			bad("daemon.json hosts", "%s without tlsverify, tlscacert, tlscert and tlskey", h)
		}
	}
	for _, u := range dockerUnits(root) {
		unit, err := os.ReadFile(filepath.Join(root, u))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(bytes.ReplaceAll(unit, []byte("\\\n"), []byte(" "))))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "ExecStart=") {
				continue
			}
			if strings.Contains(line, "tcp://") && !(strings.Contains(line, "--tlsverify") || tls) {
				bad(u, "the daemon listens on TCP without --tlsverify")
			}
			for _, flag := range []string{"--insecure-registry", "--icc=true"} {
				if strings.Contains(line, flag) {
					bad(u, "ExecStart has %s", flag)
				}
			}
		}
	}
	return fs
}

// dockerUnits are docker.service and its drop-ins, as image paths without the leading /.
func dockerUnits(root string) []string {
	units := []string{"lib/systemd/system/docker.service", "usr/lib/systemd/system/docker.service", "etc/systemd/system/docker.service"}
	for _, dir := range []string{"etc/systemd/system/docker.service.d", "lib/systemd/system/docker.service.d"} {
		matches, _ := filepath.Glob(filepath.Join(root, dir, "*.conf"))
		for _, m := range matches {
			units = append(units, strings.TrimPrefix(m, root+"/"))
		}
	}
	return units
}
