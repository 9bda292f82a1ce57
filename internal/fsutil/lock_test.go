package fsutil

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestLockExcludes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	a, err := TakeLock(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := TryLock(p); ok {
		t.Fatal("two holders of one lock")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := TakeLock(ctx, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a held lock: %v", err)
	}
	a.Unlock(false)
	b, ok := TryLock(p)
	if !ok {
		t.Fatal("a free lock cannot be taken")
	}
	b.Unlock(false)
}

// A holder that removes the lock file as it lets go must not leave a waiter holding the lock
// of a file that is gone while a newcomer locks a new one.
func TestLockFileRemovedByItsHolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	a, err := TakeLock(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Lock)
	go func() {
		b, err := TakeLock(context.Background(), p)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	time.Sleep(50 * time.Millisecond)
	a.Unlock(true)
	b := <-got
	defer b.Unlock(true)
	if _, ok := TryLock(p); ok {
		t.Fatal("the waiter holds the removed file's lock while the path is free for another")
	}
}
