//go:build qemu

package qemu_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procs maps every process on the machine to its parent.
func procs() map[int]int {
	out := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		out[pid] = ppid
	}
	return out
}

// descendants lists the live processes below pid.
func descendants(pid int) []int {
	parent := procs()
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// marked lists the live processes whose environment holds marker: everything the build
// started, even what was re-parented to init.
func marked(marker string) []string {
	var out []string
	for pid := range procs() {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err == nil && bytes.Contains(env, []byte(marker)) {
			cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			out = append(out, strconv.Itoa(pid)+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return out
}

// TestInterruptedBuildLeavesNothing interrupts `mantlet build` (SIGINT, as Ctrl-C) while
// mmdebstrap installs packages and checks that nothing outlives it: no process of the
// build, no mount below its temporary directory, no temporary tree, no work directory in
// the output directory. Costs about a minute (mmdebstrap until dpkg runs, then its clean-up).
func TestInterruptedBuildLeavesNothing(t *testing.T) {
	requireBuildHost(t)
	bin := filepath.Join(workDir, "mantlet")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/mantlet").CombinedOutput(); err != nil {
		t.Fatalf("build mantlet: %v\n%s", err, out)
	}
	fb := filepath.Join(workDir, "mantlet-firstboot-interrupt")
	cmd := exec.Command("go", "build", "-trimpath", "-o", fb, "../../cmd/mantlet-firstboot")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build mantlet-firstboot: %v\n%s", err, out)
	}
	tmp, out := t.TempDir(), t.TempDir()
	var b [8]byte
	rand.Read(b[:])
	marker := "MANTLET_INTERRUPT_TEST=" + hex.EncodeToString(b[:])

	// --no-cache: the package layer is installed afresh (a cached one would skip mmdebstrap).
	build := exec.Command(bin, "build", "--image", imageDef, "--profile", profile, "-o", out, "--firstboot", fb, "--format", "raw", "--no-cache")
	build.Env = append(os.Environ(), "TMPDIR="+tmp, marker)
	stderr, _ := build.StderrPipe()
	if err := build.Start(); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
	}()
	// wait until apt-get installs packages in mmdebstrap's chroot, with /proc, /sys and /dev
	// mounted in it below TMPDIR
	deadline := time.Now().Add(10 * time.Minute)
	var seen []int
	for {
		seen = descendants(build.Process.Pid)
		apt := false
		for _, p := range seen {
			comm, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/comm")
			apt = apt || strings.TrimSpace(string(comm)) == "apt-get"
		}
		mounts, _ := os.ReadFile("/proc/self/mountinfo")
		if apt && bytes.Contains(mounts, []byte(tmp)) {
			break
		}
		if time.Now().After(deadline) {
			build.Process.Kill()
			t.Fatalf("mmdebstrap never got to apt-get with its mounts; build log:\n%s", log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("interrupting the build with %d processes below it and its chroot mounted", len(seen))
	start := time.Now()
	build.Process.Signal(os.Interrupt)
	waited := make(chan error, 1)
	go func() { <-logDone; waited <- build.Wait() }()
	select {
	case err := <-waited:
		if err == nil {
			t.Fatal("an interrupted build succeeded")
		}
	case <-time.After(5 * time.Minute):
		build.Process.Kill()
		t.Fatalf("the build did not stop within 5 minutes of SIGINT; log:\n%s", log.String())
	}
	t.Logf("the build stopped %s after SIGINT", time.Since(start).Round(time.Millisecond))

	// processes end a moment after their parent; a few seconds for init to reap them
	var left []string
	for i := 0; i < 50; i++ {
		left = marked(marker)
		for _, p := range seen {
			if err := syscall.Kill(p, 0); err == nil {
				if _, alive := procs()[p]; alive {
					left = append(left, strconv.Itoa(p))
				}
			}
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("processes of the build outlived it:\n%s", strings.Join(left, "\n"))
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, tmp) || strings.Contains(l, out) {
			t.Errorf("mount left behind: %s", l)
		}
	}
	for _, dir := range []string{tmp, out} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			t.Errorf("left behind in %s: %s", dir, e.Name())
		}
	}
	if t.Failed() {
		t.Logf("build log:\n%s", log.String())
	}
}
