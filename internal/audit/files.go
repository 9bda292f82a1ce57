package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// skipTrees are not image content: kernel and runtime file systems, empty in an image.
var skipTrees = []string{"/proc", "/sys", "/dev", "/run", "/tmp"}

// CheckFiles walks the tree at root for world-writable files and directories (directories
// with the sticky bit excepted) and for files whose owner or group the image does not know.
func CheckFiles(root string) []Finding {
	users := ids(filepath.Join(root, "etc/passwd"))
	groups := ids(filepath.Join(root, "etc/group"))
	var fs_ []Finding
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(strings.TrimPrefix(p, root), "/"))
		for _, s := range skipTrees {
			if rel == s && d.IsDir() {
				return filepath.SkipDir
			}
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		mode := info.Mode()
		if mode.Perm()&0o002 != 0 && !(mode.IsDir() && mode&fs.ModeSticky != 0) {
			fs_ = append(fs_, Finding{Check: "files", Subject: rel, Msg: fmt.Sprintf("world-writable (%s)", mode)})
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && users != nil && groups != nil {
			if !users[st.Uid] {
				fs_ = append(fs_, Finding{Check: "files", Subject: rel, Msg: fmt.Sprintf("owned by uid %d, which the image has no user for", st.Uid)})
			}
			if !groups[st.Gid] {
				fs_ = append(fs_, Finding{Check: "files", Subject: rel, Msg: fmt.Sprintf("group gid %d, which the image has no group for", st.Gid)})
			}
		}
		return nil
	})
	return fs_
}

// ids reads the numeric ids (third field) of a passwd or group file; nil when it cannot.
func ids(path string) map[uint32]bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	m := map[uint32]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
			m[uint32(id)] = true
		}
	}
	return m
}
