package firstboot

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/mantlet/mantlet/firstboot/rootfs"
)

// Files of the agent's state, on the writable /var.
const (
	StateDir        = "/var/lib/mantlet/firstboot"
	StampInProgress = StateDir + "/in-progress"
	StampDone       = StateDir + "/done"
	ConfigCache     = StateDir + "/config.ign"
	// UndoLog is the undo log of the apply's transaction (rootfs.Tx) while it is open: a
	// boot that finds it undoes the changes of the attempt that a power cut stopped.
	UndoLog = StateDir + "/undo"
)

// stamps records how far first boot got.
type stamps struct {
	fs  *rootfs.FS
	now func() time.Time
}

func (s stamps) exists(p string) (bool, error) {
	_, err := s.fs.Lstat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// begin makes the state directory (0700) and the in-progress stamp. It says whether an
// earlier attempt left its stamp behind (it died, so this run starts over).
func (s stamps) begin() (retry bool, err error) {
	if _, err := s.fs.MkdirAll(path.Dir(StateDir), 0o755); err != nil {
		return false, err
	}
	if _, err := s.fs.MkdirAll(StateDir, 0o700); err != nil {
		return false, err
	}
	mode := fs.FileMode(0o700)
	if err := s.fs.SetAttrs(StateDir, &mode, rootfs.NoOwner); err != nil {
		return false, err
	}
	retry, err = s.exists(StampInProgress)
	if err != nil {
		return false, err
	}
	return retry, s.write(StampInProgress, "started")
}

func (s stamps) write(p, what string) error {
	line := fmt.Sprintf("%s %s\n", what, s.now().UTC().Format(time.RFC3339))
	if err := s.fs.WriteFile(p, []byte(line), 0o644, rootfs.NoOwner); err != nil {
		return fmt.Errorf("stamp %s: %w", path.Base(p), err)
	}
	return nil
}

// cache keeps the fetched config (0600) while the run lasts.
func (s stamps) cache(raw []byte) error {
	if err := s.fs.WriteFile(ConfigCache, raw, 0o600, rootfs.NoOwner); err != nil {
		return fmt.Errorf("cache config: %w", err)
	}
	return nil
}

// finish stamps done, then removes the in-progress stamp, the cached config and the
// journal.
func (s stamps) finish() error {
	if err := s.write(StampDone, "done"); err != nil {
		return err
	}
	for _, p := range []string{StampInProgress, ConfigCache, Journal} {
		if err := s.fs.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}
