package creds

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mantlet/mantlet/internal/fsutil"
)

// writeAtomic writes data to dir/name, 0600, atomically (fsutil.WriteFileAtomic).
func writeAtomic(dir, name string, data []byte) error {
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, name), data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// WriteFileAtomic writes a file (0600) next to its final place and renames it there.
func WriteFileAtomic(path string, data []byte) error {
	return writeAtomic(filepath.Dir(path), filepath.Base(path), data)
}

// lock takes an exclusive lock on the store for a change; call the returned func to free it.
func lock(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock store: another mantlet creds is changing it: %w", err)
	}
	return func() { f.Close() }, nil
}
