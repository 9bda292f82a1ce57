package build

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/tartree"
)

// visudoArgs checks a sudoers file and every file it includes, strictly (an alias used but
// not defined is an error too). Pure: table-tested.
func visudoArgs(main string) []string {
	return []string{"--check", "--strict", "--file=" + main}
}

// sudoersInclude is an include line of a sudoers file (@include, @includedir and their old
// #include spellings) that names a path under /etc.
var sudoersInclude = regexp.MustCompile(`(?m)^([@#]include(?:dir)?[ \t]+)/etc/`)

// checkSudoers runs visudo's check on the image's /etc/sudoers and /etc/sudoers.d: sudo
// reads every file of sudoers.d, and one typo would lock every administrator of every node
// out. The files are copied out of the tree into dir (their includes pointed at the copies),
// and this machine's visudo (Debian 12's, as in the image) checks them. No /etc/sudoers: no
// sudo in the image, nothing to check.
func checkSudoers(ctx context.Context, r command.Runner, t *tartree.Tree, dir string) error {
	if !t.Exists("/etc/sudoers") {
		return nil
	}
	if _, real := r.(command.Exec); real {
		if err := command.Require("visudo"); err != nil {
			return fmt.Errorf("%w (install sudo: its visudo checks the image's sudoers files)", err)
		}
	}
	root := filepath.Join(dir, "sudoers-check")
	if err := os.MkdirAll(filepath.Join(root, "etc", "sudoers.d"), 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(root)
	copyOut := func(p string) error {
		data, err := t.ReadFile(p)
		if err != nil {
			return err
		}
		data = sudoersInclude.ReplaceAll(data, []byte("${1}"+root+"/etc/"))
		return os.WriteFile(filepath.Join(root, p), data, 0o440)
	}
	if err := copyOut("/etc/sudoers"); err != nil {
		return fmt.Errorf("sudoers: %w", err)
	}
	if t.Exists("/etc/sudoers.d") {
		infos, err := t.ReadDir("/etc/sudoers.d")
		if err != nil {
			return fmt.Errorf("sudoers.d: %w", err)
		}
		for _, i := range infos {
			if i.IsRegular() {
				if err := copyOut(path.Join("/etc/sudoers.d", path.Base(i.Path))); err != nil {
					return fmt.Errorf("sudoers.d: %w", err)
				}
			}
		}
	}
	out, err := r.Run(ctx, command.Cmd{Name: "visudo", Args: visudoArgs(filepath.Join(root, "etc", "sudoers"))})
	if err != nil {
		msg := strings.ReplaceAll(err.Error()+" "+string(out), root, "")
		return fmt.Errorf("the image's sudoers files fail visudo --check --strict: fix the profile file: %s", strings.TrimSpace(msg))
	}
	return nil
}
