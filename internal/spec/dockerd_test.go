package spec

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mantlet/mantlet/internal/pki"
)

// TestRenderedDaemonRunsDockerd runs Debian's dockerd with the daemon.json the build renders
// (TCP with TLS on), on Debian's containerd with the rendered configuration, in network and mount namespaces of its own so that this machine's
// firewall, bridges and mounts are never touched. Only what cannot be the same on a build
// machine is changed: the hosts (a unix socket and 127.0.0.1 instead of fd:// and 0.0.0.0),
// the certificate paths, the data and exec directories, the cgroup driver when systemd does not
// run this machine, and userns-remap when this machine has no dockremap user (the test never
// makes users; the VM test checks userns-remap). It checks the daemon's /info, the default
// network, that nothing listens on TCP but the TLS port, a container started from a probe image
// (no-new-privileges, its cgroup under the slice, its log options), and that the TCP port
// answers TLS with a cluster certificate only.
func TestRenderedDaemonRunsDockerd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts dockerd (seconds to a minute); skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("dockerd needs root")
	}
	for _, tool := range []string{"dockerd", "containerd", "runc", "unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian package docker.io; make deps)", tool)
		}
	}
	dir, err := os.MkdirTemp("", "mantlet-dockerd-") // not t.TempDir: dockerd leaves root-owned trees
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cons, err := pki.ParseConstraints([]string{"test", "localhost"}, pki.DefaultIPRanges)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("mantlet test CA", pki.ECDSAP256, time.Now(), time.Hour, cons)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca pki.Pair, name string) pki.Pair {
		p, err := pki.Issue(ca, pki.NodeRequest{Name: name, Datacenter: "dc1", Domain: "test", Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	node, client := issue(ca, "node1"), issue(ca, "node2")
	for name, data := range map[string][]byte{"ca.pem": ca.CertPEM, "node.pem": node.CertPEM, "node-key.pem": node.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	d := &PlanDocker{TCPPort: 2376, UsernsRemap: true, ContainersMemoryMax: "4G", LogMaxSize: DefaultDockerLogMaxSize, LogMaxFiles: DefaultDockerLogMaxFiles}
	var conf map[string]any
	if err := json.Unmarshal(RenderDockerDaemon(d), &conf); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "docker.sock")
	const tcpAddr = "127.0.0.1:2376" // in the daemon's own network namespace
	conf["hosts"] = []string{"unix://" + sock, "tcp://" + tcpAddr}
	conf["tlscacert"], conf["tlscert"], conf["tlskey"] = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node.pem"), filepath.Join(dir, "node-key.pem")
	conf["data-root"], conf["exec-root"], conf["pidfile"] = filepath.Join(dir, "data"), filepath.Join(dir, "exec"), filepath.Join(dir, "docker.pid")
	systemd := isDir("/run/systemd/system")
	if !systemd {
		conf["exec-opts"] = []string{"native.cgroupdriver=cgroupfs"}
		t.Log("systemd does not run this machine: native.cgroupdriver=cgroupfs")
	}
	userns := hostHasDockremap()
	if !userns {
		delete(conf, "userns-remap")
		t.Log("this machine has no dockremap user with subordinate ids: userns-remap left out (the VM test checks it)")
	}
	confData, _ := json.MarshalIndent(conf, "", "  ")
	confPath := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(confPath, confData, 0o600); err != nil {
		t.Fatal(err)
	}
	dockerd := startDockerd(t, dir, confPath)
	if !systemd {
		t.Cleanup(func() { removeCgroups(ContainersSlice) })
	}

	api := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	waitForDaemon(t, api, dockerd)

	var info struct {
		LoggingDriver      string
		CgroupDriver       string
		LiveRestoreEnabled bool
		SecurityOptions    []string
	}
	getJSON(t, api, "/info", &info)
	t.Logf("info: %+v", info)
	if info.LoggingDriver != "json-file" || !info.LiveRestoreEnabled {
		t.Errorf("logging driver %q, live restore %v; want json-file, true", info.LoggingDriver, info.LiveRestoreEnabled)
	}
	if userns && !slices.Contains(info.SecurityOptions, "name=userns") {
		t.Errorf("security options %v lack name=userns", info.SecurityOptions)
	}
	if systemd && info.CgroupDriver != "systemd" {
		t.Errorf("cgroup driver %q, want systemd", info.CgroupDriver)
	}
	var bridge struct{ Options map[string]string }
	getJSON(t, api, "/networks/bridge", &bridge)
	if bridge.Options["com.docker.network.bridge.enable_icc"] != "false" {
		t.Errorf("default bridge options %v: icc is not off", bridge.Options)
	}

	// containerd without CRI and dockerd listen on nothing but the TLS port.
	if ls := tcpListeners(t, dockerd.Process.Pid); !slices.Equal(ls, []string{tcpAddr}) {
		t.Errorf("TCP listeners in the daemon's namespace: %v, want only %s", ls, tcpAddr)
	}
	t.Run("container", func(t *testing.T) { probeContainer(t, api, dir, userns) })
	t.Run("tcp", func(t *testing.T) { checkTLSOnly(t, dockerd, tcpAddr, ca, client) })
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// hostHasDockremap reports whether this machine has the dockremap user with subordinate ids,
// so that dockerd with userns-remap "default" would not make it.
func hostHasDockremap() bool {
	passwd, _ := os.ReadFile("/etc/passwd")
	if !bytes.Contains(passwd, []byte("\n"+DockerRemapUser+":")) && !bytes.HasPrefix(passwd, []byte(DockerRemapUser+":")) {
		return false
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		data, _ := os.ReadFile(f)
		if !bytes.Contains(data, []byte(DockerRemapUser+":")) {
			return false
		}
	}
	return true
}

// startDockerd runs containerd with the rendered configuration and dockerd with conf and the
// image's --containerd flag, in new network and mount namespaces (loopback up), until the test
// ends; their output is shown when the test fails.
func startDockerd(t *testing.T, dir, conf string) *exec.Cmd {
	t.Helper()
	ctrConf := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(ctrConf, RenderContainerdConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctrPid, ctrSock := filepath.Join(dir, "containerd.pid"), filepath.Join(dir, "containerd.sock")
	script := `ip link set lo up || exit
containerd --config "$1" --root "$2/containerd" --state "$2/containerd-state" --address "$3" >"$2/containerd.log" 2>&1 &
echo $! > "$4"
i=0; while [ ! -S "$3" ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i+1)); done
exec dockerd --config-file "$0" --containerd="$3"`
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--",
		"sh", "-c", script, conf, ctrConf, dir, ctrSock, ctrPid)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(90 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		// containerd (its output in a file, so that Wait above does not wait for it), the
		// namespaces' last process: stopped after dockerd, waited for.
		if data, err := os.ReadFile(ctrPid); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				syscall.Kill(pid, syscall.SIGTERM)
				for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
					time.Sleep(200 * time.Millisecond)
				}
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			ctrLog, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Logf("containerd output:\n%s\ndockerd output:\n%s", ctrLog, out.String())
		}
	})
	return cmd
}

// tcpListeners lists the listening TCP sockets of the network namespace of process pid, as
// address:port, from /proc/PID/net/tcp and tcp6.
func tcpListeners(t *testing.T, pid int) []string {
	t.Helper()
	var ls []string
	for _, f := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" { // TCP_LISTEN
				continue
			}
			hexAddr, hexPort, _ := strings.Cut(fields[1], ":")
			port, _ := strconv.ParseUint(hexPort, 16, 16)
			raw, _ := hex.DecodeString(hexAddr)
			for i := 0; i+4 <= len(raw); i += 4 { // each 32-bit word is in host (little-endian) order
				raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			ls = append(ls, net.JoinHostPort(net.IP(raw).String(), strconv.FormatUint(port, 10)))
		}
	}
	return ls
}

// waitForDaemon waits, generously (a loaded build machine), for the API's /_ping.
func waitForDaemon(t *testing.T, api *http.Client, dockerd *exec.Cmd) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := api.Get("http://docker/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if dockerd.ProcessState != nil || time.Now().After(deadline) {
			t.Fatalf("dockerd did not answer on its socket: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func getJSON(t *testing.T, api *http.Client, path string, v any) {
	t.Helper()
	resp, err := api.Get("http://docker" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

func post(t *testing.T, api *http.Client, path, contentType string, body io.Reader) []byte {
	t.Helper()
	resp, err := api.Post("http://docker"+path, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s: %s", path, resp.Status, out)
	}
	return out
}

// probeContainer imports an image holding only test/dockerprobe, runs it on the default
// bridge and checks what it saw and what the daemon says about it.
func probeContainer(t *testing.T, api *http.Client, dir string, userns bool) {
	probe := filepath.Join(dir, "probe")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(goTool, "build", "-trimpath", "-o", probe, "../../test/dockerprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	var image bytes.Buffer
	tw := tar.NewWriter(&image)
	tw.WriteHeader(&tar.Header{Name: "probe", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg})
	tw.Write(bin)
	tw.Close()
	if out := post(t, api, "/images/create?fromSrc=-&repo=mantlet-probe&tag=test", "application/x-tar", &image); bytes.Contains(out, []byte(`"error"`)) {
		t.Fatalf("import: %s", out)
	}
	var created struct{ ID string }
	spec := `{"Image": "mantlet-probe:test", "Cmd": ["/probe"]}`
	if err := json.Unmarshal(post(t, api, "/containers/create", "application/json", strings.NewReader(spec)), &created); err != nil {
		t.Fatal(err)
	}
	defer func() {
		req, _ := http.NewRequest(http.MethodDelete, "http://docker/containers/"+created.ID+"?force=1", nil)
		if resp, err := api.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	post(t, api, "/containers/"+created.ID+"/start", "", nil)
	var wait struct{ StatusCode int }
	if err := json.Unmarshal(post(t, api, "/containers/"+created.ID+"/wait", "", nil), &wait); err != nil || wait.StatusCode != 0 {
		t.Fatalf("the probe exited %d (%v)", wait.StatusCode, err)
	}
	resp, err := api.Get("http://docker/containers/" + created.ID + "/logs?stdout=1&stderr=1")
	if err != nil {
		t.Fatal(err)
	}
	logs := demux(resp.Body)
	resp.Body.Close()
	t.Logf("probe:\n%s", logs)
	if !strings.Contains(logs, "NoNewPrivs:\t1") {
		t.Errorf("the container may gain privileges (no-new-privileges not applied)")
	}
	if !strings.Contains(logs, ContainersSlice) && !strings.Contains(logs, strings.TrimSuffix(ContainersSlice, ".slice")) {
		t.Errorf("the container's cgroups are not under %s", ContainersSlice)
	}
	if userns && !strings.Contains(logs, fmt.Sprintf("uid_map: 0 %d %d", DockerSubIDStart, DockerSubIDCount)) {
		t.Errorf("the container's root is not mapped to %s's ids", DockerRemapUser)
	}
	var inspect struct {
		HostConfig struct {
			LogConfig struct {
				Type   string
				Config map[string]string
			}
		}
	}
	getJSON(t, api, "/containers/"+created.ID+"/json", &inspect)
	lc := inspect.HostConfig.LogConfig
	if lc.Type != "json-file" || lc.Config["max-size"] != "10m" || lc.Config["max-file"] != "3" {
		t.Errorf("the container's log config %+v, want json-file with max-size 10m, max-file 3", lc)
	}
}

// demux reads a log stream of the Docker API: frames of an 8-byte header (stream, 0, 0, 0,
// big-endian length) and the payload.
func demux(r io.Reader) string {
	var b strings.Builder
	hdr := make([]byte, 8)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return b.String()
		}
		if _, err := io.CopyN(&b, r, int64(binary.BigEndian.Uint32(hdr[4:]))); err != nil {
			return b.String()
		}
	}
}

// checkTLSOnly talks to the daemon's TCP port from inside its network namespace: plain HTTP,
// TLS without a client certificate and TLS with a certificate of another CA are refused; a
// certificate of the cluster CA gets the version.
func checkTLSOnly(t *testing.T, dockerd *exec.Cmd, addr string, ca, client pki.Pair) {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return dialInNetns(ctx, dockerd.Process.Pid, addr)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	get := func(scheme string, certs []tls.Certificate) (int, error) {
		c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			DialContext:     dial,
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12},
		}}
		resp, err := c.Get(scheme + "://" + addr + "/version")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return resp.StatusCode, nil
	}
	pair := func(p pki.Pair) []tls.Certificate {
		c, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{c}
	}
	if code, err := get("https", pair(client)); err != nil || code != http.StatusOK {
		t.Fatalf("TLS with a cluster certificate: %d, %v", code, err)
	}
	if code, err := get("http", nil); err == nil && code == http.StatusOK {
		t.Errorf("plain HTTP to %s answered 200", addr)
	} else {
		t.Logf("plain HTTP: %d, %v", code, err)
	}
	if code, err := get("https", nil); err == nil {
		t.Errorf("TLS without a client certificate answered %d", code)
	}
	anyName, _ := pki.ParseConstraints([]string{"test", "localhost"}, pki.DefaultIPRanges)
	other, err := pki.NewCA("another CA", pki.ECDSAP256, time.Now(), time.Hour, anyName)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := pki.Issue(other, pki.NodeRequest{Name: "x", Datacenter: "dc1", Domain: "test", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := get("https", pair(stranger)); err == nil {
		t.Errorf("TLS with a certificate of another CA answered %d", code)
	}
}

// dialInNetns connects to addr from the network namespace of process pid: the socket is made
// on a thread that has entered it, and stays there after the thread goes back.
func dialInNetns(ctx context.Context, pid int, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	own, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer own.Close()
	target, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter the daemon's network namespace: %w", err)
	}
	conn, dialErr := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked and ends with this goroutine's: never reused elsewhere.
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("leave the daemon's network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}

// removeCgroups removes the empty cgroup directories named name that the cgroupfs driver made
// under the cgroup of dockerd (this test's) in every v1 controller and in v2.
func removeCgroups(name string) {
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == name {
			os.Remove(p) // rmdir: only an empty cgroup goes
			return filepath.SkipDir
		}
		if strings.Count(strings.TrimPrefix(p, "/sys/fs/cgroup"), "/") > 4 {
			return filepath.SkipDir
		}
		return nil
	})
}
