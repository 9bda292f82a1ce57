package rootfs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// A Tx records, while it is open, how to undo every change made through its FS, so that a
// failed apply leaves the tree as it found it. Before a node is replaced or removed it is
// kept aside under a hidden name in its own directory (a hard link for files and symlinks,
// which our writes always replace by rename; a rename for directories); before a node's
// mode or owner changes they are noted; a node that did not exist is noted as created (the
// topmost missing directory for a new path). With a log file, every note is appended and
// synced before the change it describes, so that Recover can undo the changes of a run that
// a power cut stopped.
type Tx struct {
	fs      *FS
	log     *os.File // nil: notes kept in memory only
	logRel  string
	notes   []note
	created map[string]bool // paths created in the tx: nothing below them needs a note
	saved   map[string]bool // paths whose first node is kept aside, or noted as created
	attrs   map[string]bool // paths whose first mode and owner are noted
	// afterNote, when set, is called after each note is recorded: tests stop a run there
	// as a power cut would.
	afterNote func(n int)
}

// note is one line of the undo log.
type note struct {
	Op    string `json:"op"`              // created, aside, attrs, commit
	Path  string `json:"path,omitempty"`  // resolved, relative to the tree
	Aside string `json:"aside,omitempty"` // aside: where the old node is kept
	Mode  uint32 `json:"mode,omitempty"`  // attrs: the permission and special bits (fs.FileMode)
	UID   int    `json:"uid,omitempty"`
	GID   int    `json:"gid,omitempty"`
	Link  bool   `json:"link,omitempty"` // attrs: the node is a symlink (no chmod)
}

// ErrTxOpen reports a second Begin while a transaction is open.
var ErrTxOpen = errors.New("a transaction is already open")

// Begin opens a transaction on the tree. logPath, when not "", is a config path of the
// undo log (its directory must exist; a log left there must first go through Recover).
func (f *FS) Begin(logPath string) (*Tx, error) {
	if f.tx != nil {
		return nil, ErrTxOpen
	}
	tx := &Tx{fs: f, created: map[string]bool{}, saved: map[string]bool{}, attrs: map[string]bool{}}
	if logPath != "" {
		rel, err := f.Resolve(logPath, false)
		if err != nil {
			return nil, err
		}
		file, err := f.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("undo log: %w", err)
		}
		tx.log, tx.logRel = file, rel
		if err := f.syncDir(path.Dir(rel)); err != nil {
			file.Close()
			return nil, err
		}
	}
	f.tx = tx
	return tx, nil
}

// record appends a note, durably when there is a log, before the change it describes.
func (tx *Tx) record(n note) error {
	tx.notes = append(tx.notes, n)
	if tx.afterNote != nil {
		defer tx.afterNote(len(tx.notes))
	}
	if tx.log == nil {
		return nil
	}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	if _, err := tx.log.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("undo log: %w", err)
	}
	if err := tx.log.Sync(); err != nil {
		return fmt.Errorf("undo log: %w", err)
	}
	return nil
}

// under says whether rel is a path created in the tx or lies below one.
func (tx *Tx) under(rel string) bool {
	for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		if tx.created[p] {
			return true
		}
	}
	return false
}

// willCreate notes the topmost missing directory on the way to rel (rel itself when only
// it is missing) before a change creates it.
func (tx *Tx) willCreate(rel string) error {
	top := ""
	for p := rel; p != "."; p = path.Dir(p) {
		_, err := tx.fs.root.Lstat(p)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		top = p
	}
	if top == "" || tx.under(top) {
		return nil
	}
	tx.created[top] = true
	tx.saved[top] = true
	return tx.record(note{Op: "created", Path: top})
}

// willReplace is called before the node at rel is replaced by a rename onto it: an
// existing file or symlink is kept aside by a hard link, a missing path is noted created.
func (tx *Tx) willReplace(rel string) error {
	if tx == nil || tx.saved[rel] || tx.under(rel) {
		return nil
	}
	fi, err := tx.fs.root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return tx.willCreate(rel)
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return nil // a rename onto a directory fails: nothing changes
	}
	aside, err := asideName(rel)
	if err != nil {
		return err
	}
	if err := tx.record(note{Op: "aside", Path: rel, Aside: aside}); err != nil {
		return err
	}
	tx.saved[rel] = true
	if err := tx.fs.root.Link(rel, aside); err != nil {
		return fmt.Errorf("keep %s for undo: %w", rel, err)
	}
	return nil
}

// remove takes the node at rel out of the tree: kept aside (renamed) when it is older than
// the tx, removed when the tx made it.
func (tx *Tx) remove(rel string) error {
	if tx.saved[rel] && !tx.created[rel] || tx.under(rel) {
		return tx.fs.root.RemoveAll(rel)
	}
	if _, err := tx.fs.root.Lstat(rel); errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	} else if err != nil {
		return err
	}
	aside, err := asideName(rel)
	if err != nil {
		return err
	}
	if err := tx.record(note{Op: "aside", Path: rel, Aside: aside}); err != nil {
		return err
	}
	tx.saved[rel] = true
	return tx.fs.root.Rename(rel, aside)
}

// willCreateTemp notes a temporary file before it is made, so that Recover removes it when a
// power cut comes between its creation and its rename.
func (tx *Tx) willCreateTemp(rel string) error {
	if tx == nil || tx.under(rel) {
		return nil
	}
	return tx.record(note{Op: "created", Path: rel})
}

// willChangeAttrs notes the mode and owner of the node at rel before they change.
func (tx *Tx) willChangeAttrs(rel string) error {
	if tx == nil || tx.attrs[rel] || tx.saved[rel] || tx.under(rel) {
		return nil
	}
	fi, err := tx.fs.root.Lstat(rel)
	if err != nil {
		return nil // the change itself fails and says why
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", rel)
	}
	tx.attrs[rel] = true
	return tx.record(note{Op: "attrs", Path: rel, Mode: uint32(fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)),
		UID: int(st.Uid), GID: int(st.Gid), Link: fi.Mode()&fs.ModeSymlink != 0})
}

// asideMarker is in the names of the nodes a transaction keeps aside.
const asideMarker = ".mantlet-undo-"

func asideName(rel string) (string, error) {
	dir, base := path.Split(rel)
	tmp, err := tempName(base)
	if err != nil {
		return "", err
	}
	return path.Join(dir, strings.Replace(tmp, ".mantlet-", asideMarker, 1)), nil
}

// Commit ends the transaction keeping its changes: the log is marked committed, then what
// was kept aside and the log are removed.
func (tx *Tx) Commit() error {
	if tx.fs.tx != tx {
		return errors.New("transaction is not open")
	}
	tx.fs.tx = nil
	if err := tx.record(note{Op: "commit"}); err != nil {
		tx.closeLog()
		return err
	}
	return tx.fs.finish(tx.notes, tx.closeLog, tx.logRel)
}

// Rollback ends the transaction undoing its changes, the last first.
func (tx *Tx) Rollback() error {
	if tx.fs.tx != tx {
		return errors.New("transaction is not open")
	}
	tx.fs.tx = nil
	return tx.fs.undo(tx.notes, tx.closeLog, tx.logRel)
}

func (tx *Tx) closeLog() error {
	if tx.log == nil {
		return nil
	}
	err := tx.log.Close()
	tx.log = nil
	return err
}

// finish removes the nodes kept aside by committed notes, then the log.
func (f *FS) finish(notes []note, closeLog func() error, logRel string) error {
	var errs []error
	for _, n := range notes {
		if n.Op == "aside" {
			errs = append(errs, f.root.RemoveAll(n.Aside))
		}
	}
	errs = append(errs, closeLog())
	if logRel != "" {
		errs = append(errs, f.root.Remove(logRel), f.syncDir(path.Dir(logRel)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// undo reverts notes, the last first, then removes the log. Each step can be repeated: an
// undo that a power cut stops is finished by the next Recover.
func (f *FS) undo(notes []note, closeLog func() error, logRel string) error {
	var errs []error
	for i := len(notes) - 1; i >= 0; i-- {
		if err := f.revert(notes[i]); err != nil {
			errs = append(errs, fmt.Errorf("undo %s of %s: %w", notes[i].Op, notes[i].Path, err))
		}
	}
	errs = append(errs, closeLog())
	if len(errs) > 1 || errs[0] != nil {
		// keep the log: the next Recover tries again
		return fmt.Errorf("rollback: %w", errors.Join(errs...))
	}
	if logRel != "" {
		if err := errors.Join(f.root.Remove(logRel), f.syncDir(path.Dir(logRel))); err != nil {
			return fmt.Errorf("rollback: %w", err)
		}
	}
	return nil
}

func (f *FS) revert(n note) error {
	switch n.Op {
	case "created":
		if err := f.root.RemoveAll(n.Path); err != nil && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		return nil
	case "aside":
		afi, err := f.root.Lstat(n.Aside)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // never made, or already put back
		}
		if err != nil {
			return err
		}
		if fi, err := f.root.Lstat(n.Path); err == nil && (fi.IsDir() || afi.IsDir()) && !os.SameFile(fi, afi) {
			if err := f.root.RemoveAll(n.Path); err != nil {
				return err
			}
		}
		if err := f.root.Rename(n.Aside, n.Path); err != nil {
			return err
		}
		// renaming a hard link onto the same file does nothing
		if err := f.root.Remove(n.Aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return f.syncDir(path.Dir(n.Path))
	case "attrs":
		if _, err := f.root.Lstat(n.Path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err := f.root.Lchown(n.Path, n.UID, n.GID); err != nil {
			return err
		}
		if n.Link {
			return nil
		}
		return f.root.Chmod(n.Path, fs.FileMode(n.Mode))
	case "commit":
		return nil
	}
	return fmt.Errorf("unknown undo note %q", n.Op)
}

// Recovery says what Recover found.
type Recovery int

const (
	NothingToRecover Recovery = iota // no log
	RolledBack                       // an interrupted transaction was undone
	Committed                        // a committed transaction's clean-up was finished
)

// Recover finishes what a transaction with the log at logPath left when it was stopped (a
// power cut, a kill): a committed one loses what it kept aside, any other is undone. It
// must run before the next Begin on that log.
func (f *FS) Recover(logPath string) (Recovery, error) {
	rel, err := f.Resolve(logPath, false)
	if err != nil {
		return NothingToRecover, err
	}
	data, err := f.root.ReadFile(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return NothingToRecover, nil
	}
	if err != nil {
		return NothingToRecover, fmt.Errorf("undo log: %w", err)
	}
	notes, committed, err := parseNotes(data)
	if err != nil {
		return NothingToRecover, fmt.Errorf("undo log %s: %w", logPath, err)
	}
	noClose := func() error { return nil }
	if committed {
		return Committed, f.finish(notes, noClose, rel)
	}
	return RolledBack, f.undo(notes, noClose, rel)
}

// parseNotes reads an undo log. A last line without its newline was being written when the
// run stopped: its change never started, so it is left out.
func parseNotes(data []byte) (notes []note, committed bool, err error) {
	if i := bytes.LastIndexByte(data, '\n'); i < len(data)-1 {
		data = data[:i+1]
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var n note
		if err := json.Unmarshal(sc.Bytes(), &n); err != nil {
			return nil, false, fmt.Errorf("line %d: %w", line, err)
		}
		if n.Op == "commit" {
			committed = true
		}
		notes = append(notes, n)
	}
	return notes, committed, sc.Err()
}
