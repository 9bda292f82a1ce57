package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the master, and the path of the slave.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return master, "/dev/pts/" + strconv.Itoa(n)
}

// TestPromptPassphraseOnATerminal asks on a real pseudo-terminal: the passphrase is read
// without echo, and the terminal's mode is as it was afterwards.
func TestPromptPassphraseOnATerminal(t *testing.T) {
	master, slave := openPTY(t)
	old := ttyPath
	ttyPath = slave
	defer func() { ttyPath = old }()
	// the master's termios ioctls act on the pair's terminal
	before, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := promptPassphrase("passphrase: ")
		done <- result{p, err}
	}()
	// what the terminal shows, until the prompt is there
	var shown bytes.Buffer
	buf := make([]byte, 256)
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !strings.Contains(shown.String(), "passphrase: ") {
		n, err := master.Read(buf)
		if err != nil {
			t.Fatalf("no prompt (%q): %v", shown.String(), err)
		}
		shown.Write(buf[:n])
	}
	// give ReadPassword the moment to turn echo off before typing
	time.Sleep(200 * time.Millisecond)
	if _, err := master.Write([]byte("s3cret pass\n")); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.p != "s3cret pass" {
		t.Fatalf("got %q, %v", r.p, r.err)
	}
	master.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		n, err := master.Read(buf)
		shown.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if strings.Contains(shown.String(), "s3cret") {
		t.Fatalf("the passphrase was echoed: %q", shown.String())
	}
	after, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag {
		t.Fatalf("terminal mode not restored: lflag %o -> %o", before.Lflag, after.Lflag)
	}
}

func TestPromptPassphraseWithoutATerminal(t *testing.T) {
	old := ttyPath
	defer func() { ttyPath = old }()
	ttyPath = os.DevNull // opens, but is no terminal
	if _, err := promptPassphrase("p: "); err == nil || !strings.Contains(err.Error(), "no terminal to ask on") {
		t.Fatalf("err = %v", err)
	}
}
