package qemu

import (
	"bytes"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxConsole bounds the console kept in memory; past it the oldest half is dropped (the log
// file keeps everything). Problem scanning sees every line regardless.
const maxConsole = 32 << 20

// console receives QEMU's serial output: it keeps it for WaitFor and Console, scans each
// complete line for problems, and copies it to the sinks (log file, terminal). Write never
// fails, so that a broken sink cannot stall the guest.
type console struct {
	mu      sync.Mutex
	buf     []byte
	limit   int    // maxConsole, smaller in tests
	base    int64  // bytes dropped from the front of buf
	partial []byte // the line being written, not yet scanned
	scan    scanner
	changed chan struct{} // closed and replaced on every write
	sinks   []io.Writer
	sinkErr error  // the first error of a sink; that sink is dropped
	marks   []mark // when the output arrived, at most one mark per markEvery
}

// mark says that the console's output up to the absolute offset end had arrived by at.
type mark struct {
	end int64
	at  time.Time
}

// markEvery is the resolution of the times WaitForTime reports.
const markEvery = 50 * time.Millisecond

func newConsole(sinks ...io.Writer) *console {
	return &console{limit: maxConsole, changed: make(chan struct{}), sinks: sinks}
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	end, now := c.base+int64(len(c.buf)), time.Now()
	if n := len(c.marks); n > 0 && now.Sub(c.marks[n-1].at) < markEvery {
		c.marks[n-1].end = end
	} else {
		c.marks = append(c.marks, mark{end: end, at: now})
	}
	if len(c.buf) > c.limit {
		drop := len(c.buf) - c.limit/2
		c.buf = append(c.buf[:0], c.buf[drop:]...)
		c.base += int64(drop)
	}
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.scan.feed(string(c.partial[:i]))
		c.partial = c.partial[i+1:]
	}
	kept := c.sinks[:0]
	for _, s := range c.sinks {
		if _, err := s.Write(p); err != nil {
			if c.sinkErr == nil {
				c.sinkErr = err
			}
			continue
		}
		kept = append(kept, s)
	}
	c.sinks = kept
	close(c.changed)
	c.changed = make(chan struct{})
	return len(p), nil
}

// flush scans the last line even without its newline (once the output has ended).
func (c *console) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.partial) > 0 {
		c.scan.feed(string(c.partial))
		c.partial = nil
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

func (c *console) problems() []Problem {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Problem(nil), c.scan.problems...)
}

// search looks for a match at or after the absolute offset from (match returns the end of
// the first match, or -1) and reports whether one was found and when its end arrived (to
// markEvery), the offset to continue from and a channel closed when more output arrives.
func (c *console) search(match func([]byte) int, from int64, overlap int) (bool, time.Time, int64, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := max(from-c.base, 0)
	var at time.Time
	end := match(c.buf[start:])
	if end >= 0 {
		abs := c.base + start + int64(end)
		i := sort.Search(len(c.marks), func(i int) bool { return c.marks[i].end >= abs })
		if i < len(c.marks) {
			at = c.marks[i].at
		}
	}
	// The next search starts early enough to see a match that straddles this end.
	next := max(c.base+int64(len(c.buf))-int64(overlap), 0)
	return end >= 0, at, next, c.changed
}

// tail returns the last n lines of the console, cleaned of escape sequences.
func (c *console) tail(n int) string {
	lines := strings.Split(strings.TrimRight(c.String(), "\r\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = "  | " + strings.TrimRight(ansiEscape.ReplaceAllString(l, ""), "\r ")
	}
	return strings.Join(lines, "\n")
}
