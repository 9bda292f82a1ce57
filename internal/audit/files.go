package audit

import (
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mantlet/mantlet/internal/treecheck"
)

// CheckFiles walks the tree at root for world-writable files and directories (directories
// with the sticky bit excepted) and for files whose owner or group the image does not know.
func CheckFiles(root string) []Finding {
	var passwd, group []byte
	if im, err := openImage(root); err == nil {
		passwd, _ = im.readFile("/etc/passwd")
		group, _ = im.readFile("/etc/group")
		im.close()
	}
	c := treecheck.NewChecker(passwd, group)
	var out []Finding
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(strings.TrimPrefix(p, root), "/"))
		if rel != "/" && treecheck.Skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		e := treecheck.Entry{Path: rel, Mode: info.Mode()}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			e.UID, e.GID = st.Uid, st.Gid
		}
		for _, f := range c.Check(e) {
			out = append(out, Finding{Check: "files", Subject: f.Path, Msg: f.Msg})
		}
		return nil
	})
	return out
}
