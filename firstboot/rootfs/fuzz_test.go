package rootfs

import (
	"path"
	"strings"
	"testing"
)

// FuzzResolve checks that no config path resolves outside the tree, whatever symlinks the
// tree holds.
func FuzzResolve(f *testing.F) {
	f.Add("/etc/passwd", "../../..")
	f.Add("/home/core/.ssh/authorized_keys", "/var/home")
	f.Add("/a/b/../c", "a")
	f.Fuzz(func(t *testing.T, p, target string) {
		if target == "" || strings.ContainsRune(target, 0) || len(target) > 4096 {
			return
		}
		fsys := tree(t, []string{"etc", "var/home"}, map[string]string{"home": target, "etc/x": target})
		for _, follow := range []bool{false, true} {
			rel, err := fsys.Resolve(p, follow)
			if err != nil {
				continue
			}
			if rel != path.Clean(rel) || path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("Resolve(%q) = %q escapes the root", p, rel)
			}
		}
	})
}
