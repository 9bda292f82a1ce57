package main

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/mantlet/mantlet/internal/manpage"
)

var updateMan = flag.Bool("update", false, "rewrite the man pages in docs/man/BINARY")

// TestManPagesCurrent: docs/man holds the pages of every command, as generated from the
// commands themselves (make generate rewrites them; CI fails when they are stale).
func TestManPagesCurrent(t *testing.T) {
	dir := filepath.Join("..", "..", manpage.Dir, newRootCmd().Name())
	if *updateMan {
		if err := manpage.Write(newRootCmd(), dir); err != nil {
			t.Fatal(err)
		}
	}
	if err := manpage.Check(newRootCmd(), dir); err != nil {
		t.Fatal(err)
	}
}
