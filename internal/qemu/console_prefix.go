package qemu

import (
	"bytes"
	"io"
	"sync"
)

// prefixWriter copies complete lines to w, each cleaned of escape sequences and carriage
// returns and prefixed: the consoles of a cluster's nodes on one terminal. Writers that share
// mu never interleave within a line. Write never fails.
type prefixWriter struct {
	mu      *sync.Mutex
	w       io.Writer
	prefix  string
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	var out bytes.Buffer
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := cleanLine(string(p.partial[:i]))
		p.partial = p.partial[i+1:]
		if line != "" {
			out.WriteString(p.prefix + line + "\n")
		}
	}
	// A line that never ends (a progress bar, a prompt) is cut at 4 KiB.
	if len(p.partial) > 4<<10 {
		out.WriteString(p.prefix + cleanLine(string(p.partial)) + "\n")
		p.partial = p.partial[:0]
	}
	if out.Len() > 0 {
		p.mu.Lock()
		p.w.Write(out.Bytes())
		p.mu.Unlock()
	}
	return len(b), nil
}
