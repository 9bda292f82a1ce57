// Package layercache keeps package layers (the root tree tarballs mmdebstrap makes) between
// builds. A layer is found by its key (a digest of everything that can change it), is used
// only after its size and sha256 match the index (a truncated or changed file is removed and
// reported as missing), and the cache stays under a size limit by evicting the layers used
// least recently. Several builds may use one cache at once: the index changes under a lock,
// a layer is built by one build at a time per key, and files appear only complete (written
// to a temporary name, synced, renamed).
package layercache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mantlet/mantlet/internal/fsutil"
)

// DefaultMaxSize bounds the layers of a cache unless the caller says otherwise.
const DefaultMaxSize = 10 << 30

const (
	indexName    = "index.json"
	indexVersion = 1
	layerExt     = ".tar"
	pendingInfix = ".pending-"
	// chunkSize is the unit of the hashes in the index: chunks are checked in parallel.
	chunkSize = 64 << 20
)

var keyRE = regexp.MustCompile(`^[0-9a-f]{16,64}$`)

// Entry is one layer in the index.
type Entry struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	// Chunks are the sha256 of each 64 MiB piece of the layer file, which a use checks (in
	// parallel); Digest is the sha256 of those hashes, one line each.
	Digest   string    `json:"digest"`
	Chunks   []string  `json:"chunks"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	// Label says what the layer holds, for people (mantlet cache list).
	Label string `json:"label"`
	// Meta is the builder's record of the layer (its package list, its kernel).
	Meta json.RawMessage `json:"meta,omitempty"`
}

type index struct {
	Version int      `json:"version"`
	Layers  []*Entry `json:"layers"`
}

// Cache is a layer cache directory.
type Cache struct {
	dir     string
	maxSize int64
	now     func() time.Time
}

// Open makes (if needed) and opens the cache in dir, keeping its layers under maxSize bytes
// (0: DefaultMaxSize).
func Open(dir string, maxSize int64) (*Cache, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	// Layers hold whole root trees, /etc/shadow and keys made at install time among them.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	return &Cache{dir: dir, maxSize: maxSize, now: time.Now}, nil
}

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

// MaxSize is the size limit of the layers.
func (c *Cache) MaxSize() int64 { return c.maxSize }

func (c *Cache) layerPath(key string) string { return filepath.Join(c.dir, key+layerExt) }

// Layer is a layer found in the cache: its entry and its file, open (an eviction by another
// build while it is in use does not take it away).
type Layer struct {
	Entry
	File *os.File
	Path string
}

// Close closes the layer's file.
func (l *Layer) Close() error { return l.File.Close() }

// ErrNotFound is a miss.
var ErrNotFound = errors.New("no such layer in the cache")

// CorruptError is a layer whose file does not match its index entry: it has been removed.
type CorruptError struct {
	Key    string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("cached layer %s is corrupt (%s): removed, it will be built again", short(e.Key), e.Reason)
}

func short(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

// Get returns the layer with key after checking its size and hashes, and marks it used. A
// miss is ErrNotFound; a layer that fails the check is removed and reported as *CorruptError
// (callers treat both as a miss).
func (c *Cache) Get(ctx context.Context, key string) (*Layer, error) {
	if !keyRE.MatchString(key) {
		return nil, fmt.Errorf("layer key %q: not a hex digest", key)
	}
	var e *Entry
	var f *os.File
	err := c.withIndex(ctx, func(ix *index) (bool, error) {
		for _, x := range ix.Layers {
			if x.Key == key {
				e = x
			}
		}
		if e == nil {
			return false, ErrNotFound
		}
		var err error
		if f, err = os.Open(c.layerPath(key)); err != nil {
			return c.dropLocked(ix, key), &CorruptError{Key: key, Reason: "its file is missing"}
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	ent := *e
	if reason := verify(f, &ent); reason != "" {
		f.Close()
		c.remove(ctx, key, ent.Digest)
		return nil, &CorruptError{Key: key, Reason: reason}
	}
	var used Entry
	err = c.withIndex(ctx, func(ix *index) (bool, error) {
		for _, x := range ix.Layers {
			if x.Key == key {
				x.LastUsed = c.now().UTC()
				used = *x
				return true, nil
			}
		}
		used = ent // evicted meanwhile: the open file still holds it
		return false, nil
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Layer{Entry: used, File: f, Path: c.layerPath(key)}, nil
}

// verify checks f against e: its size, then every chunk's sha256, in parallel. It returns why
// they differ, or "".
func verify(f *os.File, e *Entry) string {
	fi, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if fi.Size() != e.Size {
		return fmt.Sprintf("%d bytes, the index says %d", fi.Size(), e.Size)
	}
	sums, err := chunkSums(f, e.Size)
	if err != nil {
		return err.Error()
	}
	if len(sums) != len(e.Chunks) || digest(e.Chunks) != e.Digest {
		return "its index entry is inconsistent"
	}
	for i := range sums {
		if sums[i] != e.Chunks[i] {
			return fmt.Sprintf("sha256 of bytes %d to %d differs from the index", int64(i)*chunkSize, min(int64(i+1)*chunkSize, e.Size))
		}
	}
	return ""
}

// chunkSums hashes f in chunks, on every CPU.
func chunkSums(f *os.File, size int64) ([]string, error) {
	n := int((size + chunkSize - 1) / chunkSize)
	sums := make([]string, n)
	errs := make([]error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(runtime.NumCPU(), max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for i := range next {
				h := sha256.New()
				off := int64(i) * chunkSize
				if _, err := io.CopyBuffer(h, io.NewSectionReader(f, off, min(chunkSize, size-off)), buf); err != nil {
					errs[i] = err
					continue
				}
				sums[i] = hex.EncodeToString(h.Sum(nil))
			}
		}()
	}
	wg.Wait()
	return sums, errors.Join(errs...)
}

// digest is the sha256 of the chunk hashes, one per line.
func digest(chunks []string) string {
	h := sha256.New()
	for _, c := range chunks {
		io.WriteString(h, c+"\n")
	}
	return hex.EncodeToString(h.Sum(nil))
}

// remove drops the layer with key if its entry still has digest (another build may have
// stored a new one meanwhile).
func (c *Cache) remove(ctx context.Context, key, digest string) {
	err := c.withIndex(ctx, func(ix *index) (bool, error) {
		for _, x := range ix.Layers {
			if x.Key == key && x.Digest == digest {
				return c.dropLocked(ix, key), nil
			}
		}
		return false, nil
	})
	if err != nil {
		slog.Warn("layer cache: cannot remove a corrupt layer", "key", key, "err", err)
	}
}

// dropLocked removes key from the index and its file; the index lock is held.
func (c *Cache) dropLocked(ix *index, key string) bool {
	kept := ix.Layers[:0]
	for _, x := range ix.Layers {
		if x.Key != key {
			kept = append(kept, x)
		}
	}
	changed := len(kept) != len(ix.Layers)
	ix.Layers = kept
	if err := os.Remove(c.layerPath(key)); err != nil && !errors.Is(err, os.ErrNotExist) {
		slog.Warn("layer cache: cannot remove a layer file", "key", key, "err", err)
	}
	return changed
}

// Pending is a layer being built: the build holds its key's lock.
type Pending struct {
	c    *Cache
	key  string
	path string
	lock *fsutil.Lock
}

// Begin takes the build lock of key, waiting while another build holds it, and gives a
// temporary path in the cache directory to write the layer to. After Begin, look the key up
// again: the build that held the lock may have stored it. Abort or Commit ends it.
func (c *Cache) Begin(ctx context.Context, key string) (*Pending, error) {
	if !keyRE.MatchString(key) {
		return nil, fmt.Errorf("layer key %q: not a hex digest", key)
	}
	l, err := fsutil.TakeLock(ctx, filepath.Join(c.dir, key+".lock"))
	if err != nil {
		return nil, err
	}
	p := &Pending{c: c, key: key, path: filepath.Join(c.dir, key+pendingInfix+fmt.Sprint(os.Getpid())+layerExt), lock: l}
	os.Remove(p.path)
	return p, nil
}

// Path is where the layer is to be written.
func (p *Pending) Path() string { return p.path }

// Abort gives the key up and removes what was written.
func (p *Pending) Abort() {
	os.Remove(p.path)
	p.lock.Unlock(true)
}

// Commit stores the layer written to Path under the key: it syncs and hashes the file,
// renames it into place, records it in the index and evicts least recently used layers
// until the cache fits its size limit (never the new one). It returns the layer, open.
func (p *Pending) Commit(ctx context.Context, label string, meta any) (*Layer, error) {
	defer p.lock.Unlock(true)
	c := p.c
	f, err := os.OpenFile(p.path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	e := &Entry{Key: p.key, Size: fi.Size(), Label: label}
	if e.Chunks, err = chunkSums(f, e.Size); err != nil {
		return nil, err
	}
	e.Digest = digest(e.Chunks)
	if meta != nil {
		if e.Meta, err = json.Marshal(meta); err != nil {
			return nil, err
		}
	}
	var l *Layer
	err = c.withIndex(ctx, func(ix *index) (bool, error) {
		if err := os.Rename(p.path, c.layerPath(p.key)); err != nil {
			return false, err
		}
		lf, err := os.Open(c.layerPath(p.key))
		if err != nil {
			return false, err
		}
		l = &Layer{File: lf, Path: c.layerPath(p.key)}
		syncDir(c.dir)
		e.Created = c.now().UTC()
		e.LastUsed = e.Created
		kept := ix.Layers[:0]
		for _, x := range ix.Layers {
			if x.Key != p.key {
				kept = append(kept, x)
			}
		}
		ix.Layers = append(kept, e)
		c.evictLocked(ix, c.maxSize, p.key)
		return true, nil
	})
	if err != nil {
		os.Remove(p.path)
		return nil, err
	}
	l.Entry = *e
	return l, nil
}

// evictLocked removes least recently used layers, but keep, until the layers fit in max.
func (c *Cache) evictLocked(ix *index, max int64, keep string) []Entry {
	sort.Slice(ix.Layers, func(i, j int) bool { return ix.Layers[i].LastUsed.After(ix.Layers[j].LastUsed) })
	var total int64
	for _, x := range ix.Layers {
		total += x.Size
	}
	var gone []Entry
	for i := len(ix.Layers) - 1; i >= 0 && total > max; i-- {
		x := ix.Layers[i]
		if x.Key == keep {
			continue
		}
		total -= x.Size
		gone = append(gone, *x)
		c.dropLocked(ix, x.Key)
	}
	if total > max && keep != "" {
		slog.Warn("layer cache: the newest layer alone is larger than the cache's size limit", "size", total, "limit", max)
	}
	return gone
}

// List returns the layers, most recently used first.
func (c *Cache) List(ctx context.Context) ([]Entry, error) {
	var out []Entry
	err := c.withIndex(ctx, func(ix *index) (bool, error) {
		for _, x := range ix.Layers {
			out = append(out, *x)
		}
		return false, nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, err
}

// Prune removes least recently used layers until the rest fit in max bytes (0: all of them),
// and the files of builds that died while writing a layer. It returns the layers removed.
func (c *Cache) Prune(ctx context.Context, max int64) ([]Entry, error) {
	var gone []Entry
	err := c.withIndex(ctx, func(ix *index) (bool, error) {
		gone = c.evictLocked(ix, max, "")
		return len(gone) > 0, nil
	})
	return gone, err
}

// withIndex runs fn with the index loaded under the cache's lock, and writes the index back
// when fn says it changed it. Files in the directory that the index does not know (the
// leftovers of a build killed while writing) are removed while the lock is held.
func (c *Cache) withIndex(ctx context.Context, fn func(*index) (bool, error)) error {
	l, err := fsutil.TakeLock(ctx, filepath.Join(c.dir, "index.lock"))
	if err != nil {
		return err
	}
	defer l.Unlock(false)
	ix, err := c.readIndex()
	if err != nil {
		return err
	}
	c.sweepLocked(ix)
	changed, err := fn(ix)
	if changed {
		if werr := c.writeIndex(ix); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func (c *Cache) readIndex() (*index, error) {
	data, err := os.ReadFile(filepath.Join(c.dir, indexName))
	if errors.Is(err, os.ErrNotExist) {
		return &index{Version: indexVersion}, nil
	}
	if err != nil {
		return nil, err
	}
	ix := &index{}
	if err := json.Unmarshal(data, ix); err != nil || ix.Version != indexVersion {
		// Never trust a layer the index cannot vouch for: start afresh (the sweep removes
		// the files).
		slog.Warn("layer cache: the index is unreadable or of another version; the cached layers are dropped", "dir", c.dir, "err", err)
		return &index{Version: indexVersion}, nil
	}
	return ix, nil
}

func (c *Cache) writeIndex(ix *index) error {
	sort.Slice(ix.Layers, func(i, j int) bool { return ix.Layers[i].Key < ix.Layers[j].Key })
	data, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(c.dir, indexName), append(data, '\n'), 0o600)
}

// sweepLocked removes layer files the index does not list and pending files no build is
// writing (their key's lock is free).
func (c *Cache) sweepLocked(ix *index) {
	known := map[string]bool{}
	for _, x := range ix.Layers {
		known[x.Key+layerExt] = true
	}
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, d := range ents {
		name := d.Name()
		switch {
		case !strings.HasSuffix(name, layerExt) || known[name]:
		case strings.Contains(name, pendingInfix):
			key := name[:strings.Index(name, pendingInfix)]
			if l, ok := fsutil.TryLock(filepath.Join(c.dir, key+".lock")); ok {
				os.Remove(filepath.Join(c.dir, name))
				l.Unlock(true)
			}
		case keyRE.MatchString(strings.TrimSuffix(name, layerExt)):
			os.Remove(filepath.Join(c.dir, name))
		}
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
