package command

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive reports whether pid is a live process (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// waitGone waits up to a few seconds for pids to be gone: an orphan is reaped by init.
func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d outlived the cancelled command", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func readPids(t *testing.T, file string) []int {
	t.Helper()
	var pids []int
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			if err == nil {
				pids = append(pids, n)
			}
		}
		if len(pids) > 0 && strings.HasSuffix(string(b), "\n") {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatal("the command never wrote its children's pids")
		}
		pids = nil
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCancelStopsTheWholeGroup: a cancelled command's children (a tool's apt and dpkg)
// stop with it, SIGTERM first.
func TestCancelStopsTheWholeGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile, termFile := filepath.Join(dir, "pids"), filepath.Join(dir, "term")
	script := `trap 'echo term >` + termFile + `; kill $a $b; exit 0' TERM
sleep 300 & a=$!
sh -c 'sleep 300' & b=$!
echo $a $b $$ >` + pidFile + `
wait`
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Exec{Grace: 5 * time.Second}.Run(ctx, Cmd{Name: "sh", Args: []string{"-c", script}})
		done <- err
	}()
	pids := readPids(t, pidFile)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	waitGone(t, pids...)
	if b, _ := os.ReadFile(termFile); string(b) != "term\n" {
		t.Fatalf("the command did not get SIGTERM first (%q)", b)
	}
}

// TestCancelKillsWhatIgnoresSIGTERM: after the grace period the group gets SIGKILL, even a
// child that ignores SIGTERM and holds the output pipe.
func TestCancelKillsWhatIgnoresSIGTERM(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	script := `trap '' TERM
sleep 300 & a=$!
echo $a $$ >` + pidFile + `
wait`
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := Exec{Grace: 300 * time.Millisecond}.Run(ctx, Cmd{Name: "sh", Args: []string{"-c", script}})
		done <- err
	}()
	pids := readPids(t, pidFile)
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the grace period")
	}
	waitGone(t, pids...)
	t.Logf("returned %v after the start", time.Since(start).Round(time.Millisecond))
}

// TestCommandHasItsOwnGroup: a tool is the leader of a process group of its own, so that the
// terminal's Ctrl-C reaches mantlet, which stops the tool in order, not every process at once.
func TestCommandHasItsOwnGroup(t *testing.T) {
	out, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", "echo $$ $(ps -o pgid= -p $$)"}})
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != f[1] {
		t.Fatalf("pid and pgid %q", out)
	}
	if pgid, _ := syscall.Getpgid(os.Getpid()); strconv.Itoa(pgid) == f[1] {
		t.Fatal("the command shares the test's process group")
	}
}

// TestCancelledBeforeStart: a command is not started once the context is done.
func TestCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	file := filepath.Join(t.TempDir(), "ran")
	_, err := Exec{}.Run(ctx, Cmd{Name: "touch", Args: []string{file}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("the command ran")
	}
}
