package fsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Lock is an exclusive flock(2) on a file. The kernel lets it go when the process dies, so a
// killed build never leaves a cache locked.
type Lock struct {
	f    *os.File
	path string
}

// TakeLock takes the lock at path, waiting (and polling ctx) while another process holds it.
// A lock file removed by its holder between our open and our flock is not the lock any more:
// then it starts again.
func TakeLock(ctx context.Context, path string) (*Lock, error) {
	wait := 10 * time.Millisecond
	for {
		l, ok, err := acquire(path)
		if err != nil {
			return nil, err
		}
		if ok {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lock %s: %w", path, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}

// TryLock takes the lock at path if it is free.
func TryLock(path string) (*Lock, bool) {
	l, ok, err := acquire(path)
	return l, ok && err == nil
}

func acquire(path string) (*Lock, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	// Still the file at path? Its previous holder may have removed it after we opened it.
	var held, now syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &held) != nil || syscall.Stat(path, &now) != nil || held.Ino != now.Ino || held.Dev != now.Dev {
		f.Close()
		return nil, false, nil
	}
	return &Lock{f: f, path: path}, true, nil
}

// Unlock lets the lock go; with remove, the lock file goes too (done while it is held, so
// that no other process holds a lock on a file that is no longer there).
func (l *Lock) Unlock(remove bool) {
	if remove {
		os.Remove(l.path)
	}
	l.f.Close()
}
