package qemu

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func contains(s string) func([]byte) int {
	return func(b []byte) int {
		if i := bytes.Index(b, []byte(s)); i >= 0 {
			return i + len(s)
		}
		return -1
	}
}

func TestConsoleSearchFindsMatchesAcrossWrites(t *testing.T) {
	c := newConsole()
	var from int64
	for _, chunk := range []string{"BdsD", "xe: fail", "ed\r\n", "node-1 lo", "gin: "} {
		c.Write([]byte(chunk))
		found, _, next, _ := c.search(contains("login: "), from, len("login: "))
		if found != (chunk == "gin: ") {
			t.Fatalf("after %q: found = %v", chunk, found)
		}
		from = next
	}
}

func TestConsoleScansCompleteLinesAndFlushesTheLast(t *testing.T) {
	c := newConsole()
	c.Write([]byte("[ 1.0] Kernel panic - not sync"))
	if len(c.problems()) != 0 {
		t.Fatal("a partial line was scanned")
	}
	c.Write([]byte("ing: Attempted to kill init!\r\n[ 1.1] Out of memory: Killed process 12"))
	if ps := c.problems(); len(ps) != 1 || ps[0].Kind != KernelPanic {
		t.Fatalf("problems = %v, want the kernel panic", ps)
	}
	c.flush()
	if ps := c.problems(); len(ps) != 2 || ps[1].Kind != OOMKill {
		t.Fatalf("problems after flush = %v, want the OOM kill too", ps)
	}
}

func TestConsoleWritesSinksAndDropsBrokenOnes(t *testing.T) {
	var a bytes.Buffer
	broken := failingWriter{}
	c := newConsole(broken, &a)
	if n, err := c.Write([]byte("one\n")); n != 4 || err != nil {
		t.Fatalf("Write = %d, %v; a console write never fails", n, err)
	}
	c.Write([]byte("two\n"))
	if a.String() != "one\ntwo\n" || c.String() != "one\ntwo\n" {
		t.Fatalf("sink %q, console %q", a.String(), c.String())
	}
	if c.sinkErr == nil || len(c.sinks) != 1 {
		t.Fatalf("broken sink kept: err %v, %d sinks", c.sinkErr, len(c.sinks))
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestConsoleDropsTheOldestHalfPastTheLimit(t *testing.T) {
	c := newConsole()
	c.limit = 64 << 10
	line := strings.Repeat("x", 1023) + "\n"
	for range c.limit/len(line) + 1 {
		c.Write([]byte(line))
	}
	c.Write([]byte("marker\n"))
	if n := len(c.String()); n > c.limit {
		t.Fatalf("console holds %d bytes, limit %d", n, c.limit)
	}
	found, _, _, _ := c.search(contains("marker"), 0, 0)
	if !found || c.base == 0 {
		t.Fatalf("found = %v, base = %d", found, c.base)
	}
}

func TestConsoleTail(t *testing.T) {
	c := newConsole()
	c.Write([]byte("\x1b[2J1\r\n2\r\n3\r\n4\r\n"))
	if got, want := c.tail(2), "  | 3\n  | 4"; got != want {
		t.Errorf("tail(2) = %q, want %q", got, want)
	}
	if got := c.tail(10); !strings.HasPrefix(got, "  | 1\n") {
		t.Errorf("tail(10) = %q: escapes not stripped", got)
	}
}

// A search says when its match reached the console, not when it was asked.
func TestConsoleSearchTimesTheMatch(t *testing.T) {
	c := newConsole()
	c.Write([]byte("early output\n"))
	time.Sleep(2 * markEvery)
	before := time.Now()
	c.Write([]byte("the mar"))
	c.Write([]byte("ker\n"))
	after := time.Now()
	time.Sleep(3 * markEvery)
	c.Write([]byte("later output\n"))
	found, at, _, _ := c.search(contains("marker"), 0, 0)
	if !found || at.Before(before.Add(-markEvery)) || at.After(after) {
		t.Fatalf("found %v at %s, want between %s and %s", found, at.Format(time.StampMicro), before.Format(time.StampMicro), after.Format(time.StampMicro))
	}
}
