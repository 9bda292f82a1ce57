// Package manpage writes the man pages of a cobra command tree (one per command, with
// github.com/spf13/cobra/doc) and checks that the pages checked in are current.
package manpage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Dir is where the pages live in the repository, from the module's root: one directory per
// binary (docs/man/mantlet, docs/man/mantlet-firstboot), pages named as man(1) wants them.
const Dir = "docs/man"

// date is the fixed date the pages carry: generation must give the same bytes every time,
// so that CI can tell a stale page from a current one.
var date = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// render returns the pages of root's tree by file name.
func render(root *cobra.Command) (map[string][]byte, error) {
	tmp, err := os.MkdirTemp("", "mantlet-man-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	root.DisableAutoGenTag = true
	header := &doc.GenManHeader{Title: root.Name(), Section: "1", Source: "mantlet", Manual: "mantlet manual", Date: &date}
	if err := doc.GenManTree(root, header, tmp); err != nil {
		return nil, fmt.Errorf("man pages: %w", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	pages := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(tmp, e.Name()))
		if err != nil {
			return nil, err
		}
		pages[e.Name()] = b
	}
	return pages, nil
}

// Write writes root's pages into dir, replacing stale ones and removing pages of commands
// that are gone (of root's tree: files named ROOT.1 or ROOT-*.1).
func Write(root *cobra.Command, dir string) error {
	pages, err := render(root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, root.Name()+"-*.1"))
	for _, p := range append(old, filepath.Join(dir, root.Name()+".1")) {
		if _, keep := pages[filepath.Base(p)]; !keep {
			os.Remove(p)
		}
	}
	for name, b := range pages {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Check reports every page of root's tree that is missing from dir, differs, or is left
// over from a command that is gone.
func Check(root *cobra.Command, dir string) error {
	pages, err := render(root)
	if err != nil {
		return err
	}
	var problems []string
	for name, b := range pages {
		have, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case err != nil:
			problems = append(problems, name+": missing")
		case !bytes.Equal(have, b):
			problems = append(problems, name+": stale")
		}
	}
	old, _ := filepath.Glob(filepath.Join(dir, root.Name()+"-*.1"))
	for _, p := range old {
		if _, ok := pages[filepath.Base(p)]; !ok {
			problems = append(problems, filepath.Base(p)+": no such command any more")
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("%w in %s: %v (run make generate)", ErrStale, dir, problems)
	}
	return nil
}

// ErrStale reports pages that do not match the commands.
var ErrStale = errors.New("man pages not current")
