package tartree

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteTo writes the edited tree as a tar archive: the archive's entries in their order (each
// unchanged one copied as it is, with its headers), new entries each where a name-sorted
// archive has it, then the end-of-archive blocks.
func (t *Tree) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	tw := tar.NewWriter(cw)
	var added []*entry
	for _, e := range t.entries {
		if e.start < 0 && !e.removed {
			added = append(added, e)
		}
	}
	sort.Slice(added, func(i, j int) bool { return Less(added[i].path, added[j].path) })

	// A run of unchanged entries that are contiguous in the archive is one copy.
	var runStart, runEnd int64 = -1, -1
	flush := func() error {
		if runStart < 0 {
			return nil
		}
		err := t.copyRange(cw, runStart, runEnd-runStart)
		runStart, runEnd = -1, -1
		return err
	}
	emit := func(e *entry) error {
		if err := flush(); err != nil {
			return err
		}
		return t.writeEntry(tw, e)
	}
	for _, e := range t.entries {
		if e.start < 0 {
			break // the added ones, merged in below
		}
		for len(added) > 0 && Less(added[0].path, e.path) {
			if err := emit(added[0]); err != nil {
				return cw.n, err
			}
			added = added[1:]
		}
		switch {
		case e.removed:
		case e.changed:
			if err := emit(e); err != nil {
				return cw.n, err
			}
		case runStart >= 0 && e.start == runEnd:
			runEnd = e.end
		default:
			if err := flush(); err != nil {
				return cw.n, err
			}
			runStart, runEnd = e.start, e.end
		}
	}
	if err := flush(); err != nil {
		return cw.n, err
	}
	for _, e := range added {
		if err := t.writeEntry(tw, e); err != nil {
			return cw.n, err
		}
	}
	err := tw.Close()
	return cw.n, err
}

// writeEntry writes e's header anew and its content.
func (t *Tree) writeEntry(tw *tar.Writer, e *entry) error {
	h := cloneHeader(e.hdr)
	h.Name = archiveName(e.path, h.Typeflag)
	if h.Typeflag == tar.TypeLink {
		h.Linkname = "./" + strings.TrimPrefix(h.Linkname, "./")
	}
	if h.Typeflag != tar.TypeReg {
		h.Size = 0
	}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("/%s: %w", e.path, err)
	}
	if h.Typeflag == tar.TypeReg && h.Size > 0 {
		var r io.Reader
		if e.data != nil {
			r = bytes.NewReader(e.data)
		} else {
			src := e
			if e.dataSrc != nil {
				src = e.dataSrc
			}
			r = io.NewSectionReader(t.f, src.dataOff, h.Size)
		}
		if _, err := io.Copy(tw, r); err != nil {
			return fmt.Errorf("/%s: %w", e.path, err)
		}
	}
	return tw.Flush()
}

// copyRange copies n bytes of the archive from off to w; between two files the kernel copies
// them (copy_file_range), without passing them through this process.
func (t *Tree) copyRange(w io.Writer, off, n int64) error {
	if _, err := t.f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	m, err := io.Copy(w, &io.LimitedReader{R: t.f, N: n})
	if err == nil && m != n {
		err = fmt.Errorf("archive ends %d bytes early", n-m)
	}
	return err
}

type countWriter struct {
	w io.Writer
	n int64
}

// ReadFrom lets io.Copy reach the destination's own ReadFrom (an *os.File's copy_file_range).
func (c *countWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	if rf, ok := c.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{c.w}, r)
	}
	c.n += n
	return n, err
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
