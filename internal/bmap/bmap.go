// Package bmap writes the block map of a disk image, in the format of bmaptool (bmap-tools,
// version 2.0 of the format): the image's size and every range of 4 KiB blocks that hold
// something other than zeros, each with its sha256. The rest of the image is zeros. The map is
// a function of the image's content, not of how sparse its file is, so it pins the image as
// a sha256 of the whole file would, at the cost of hashing only the data: a 2.7 GiB image
// with 300 MiB of data is read as 300 MiB (holes are skipped with SEEK_DATA). bmaptool copy
// checks every range while it writes the image to a disk.
package bmap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// BlockSize is the block map's unit.
const BlockSize = 4096

// Range is a run of blocks [First, Last] and the sha256 of their bytes.
type Range struct {
	First, Last int64
	SHA256      string
}

// Map is the block map of an image.
type Map struct {
	ImageSize int64
	Ranges    []Range
}

// Mapped is how many blocks hold data.
func (m *Map) Mapped() int64 {
	var n int64
	for _, r := range m.Ranges {
		n += r.Last - r.First + 1
	}
	return n
}

// Compute reads the image at path (its data extents only) and returns its block map.
func Compute(path string) (*Map, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m := &Map{ImageSize: fi.Size()}
	var cur *Range
	var h hash.Hash
	end := func() {
		if cur != nil {
			cur.SHA256 = hex.EncodeToString(h.Sum(nil))
			m.Ranges = append(m.Ranges, *cur)
			cur = nil
		}
	}
	zero := make([]byte, BlockSize)
	buf := make([]byte, 1<<20)
	var next int64 // the first block not looked at yet
	err = dataExtents(f, m.ImageSize, func(start, stop int64) error {
		start = max(start-start%BlockSize, next*BlockSize)
		for off := start; off < stop; {
			n := min(int64(len(buf)), stop-off)
			if rem := (off + n) % BlockSize; rem != 0 && off+n < m.ImageSize {
				n += BlockSize - rem // whole blocks
			}
			k, err := f.ReadAt(buf[:n], off)
			if err != nil && !(errors.Is(err, io.EOF) && off+int64(k) == m.ImageSize) {
				return err
			}
			for b := 0; b < k; b += BlockSize {
				blk := buf[b:min(b+BlockSize, k)]
				num := (off + int64(b)) / BlockSize
				if bytes.Equal(blk, zero[:len(blk)]) {
					end()
					continue
				}
				if cur != nil && cur.Last != num-1 {
					end()
				}
				if cur == nil {
					cur, h = &Range{First: num}, sha256.New()
				}
				cur.Last = num
				h.Write(blk)
			}
			off += int64(k)
			next = (off + BlockSize - 1) / BlockSize
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("block map of %s: %w", path, err)
	}
	end()
	return m, nil
}

// dataExtents calls fn for each [start, stop) of path that may hold data: SEEK_DATA and
// SEEK_HOLE find them; a file system without them gives the whole file as one extent.
func dataExtents(f *os.File, size int64, fn func(start, stop int64) error) error {
	for off := int64(0); off < size; {
		start, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole is left
		}
		if err != nil {
			return fn(off, size)
		}
		stop, err := unix.Seek(int(f.Fd()), start, unix.SEEK_HOLE)
		if err != nil {
			stop = size
		}
		// Extents of one block's parts: a block that starts in this extent is read whole.
		if err := fn(start, min(stop, size)); err != nil {
			return err
		}
		off = stop
	}
	return nil
}

// Marshal writes the map as a bmap 2.0 file, its own sha256 in BmapFileChecksum (taken over
// the file with that field's value as 64 zeros, as bmaptool checks it).
func (m *Map) Marshal(image string) []byte {
	blocks := (m.ImageSize + BlockSize - 1) / BlockSize
	var b strings.Builder
	fmt.Fprintf(&b, "<?xml version=\"1.0\" ?>\n")
	fmt.Fprintf(&b, "<!-- Block map of %s, written by mantlet build. Only the blocks listed\n", image)
	fmt.Fprintf(&b, "     below hold data; every other block of the image is zeros. Write the\n")
	fmt.Fprintf(&b, "     image to a disk with: bmaptool copy %s /dev/DISK -->\n", image)
	fmt.Fprintf(&b, "<bmap version=\"2.0\">\n")
	fmt.Fprintf(&b, "    <ImageSize> %d </ImageSize>\n", m.ImageSize)
	fmt.Fprintf(&b, "    <BlockSize> %d </BlockSize>\n", BlockSize)
	fmt.Fprintf(&b, "    <BlocksCount> %d </BlocksCount>\n", blocks)
	fmt.Fprintf(&b, "    <MappedBlocksCount> %d </MappedBlocksCount>\n", m.Mapped())
	fmt.Fprintf(&b, "    <ChecksumType> sha256 </ChecksumType>\n")
	fmt.Fprintf(&b, "    <BmapFileChecksum> %s </BmapFileChecksum>\n", strings.Repeat("0", 64))
	fmt.Fprintf(&b, "    <BlockMap>\n")
	for _, r := range m.Ranges {
		span := fmt.Sprint(r.First)
		if r.Last != r.First {
			span = fmt.Sprintf("%d-%d", r.First, r.Last)
		}
		fmt.Fprintf(&b, "        <Range chksum=\"%s\"> %s </Range>\n", r.SHA256, span)
	}
	fmt.Fprintf(&b, "    </BlockMap>\n</bmap>\n")
	out := b.String()
	sum := sha256.Sum256([]byte(out))
	return []byte(strings.Replace(out, strings.Repeat("0", 64), hex.EncodeToString(sum[:]), 1))
}

// Verify checks that the image at path has exactly the content the bmap file data describes:
// the same size, the same data blocks with the same hashes, zeros everywhere else.
func Verify(path string, data []byte) error {
	m, err := Compute(path)
	if err != nil {
		return err
	}
	name := filepath.Base(path)
	if got := m.Marshal(name); !bytes.Equal(got, data) {
		if bytes.Contains(data, []byte("Block map of "+name+",")) {
			return fmt.Errorf("%s does not match its block map: %d data blocks in %d bytes, the map says otherwise", path, m.Mapped(), m.ImageSize)
		}
		return fmt.Errorf("%s: the block map is not one mantlet wrote for this image name", path)
	}
	return nil
}
