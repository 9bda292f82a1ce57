package stages

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coreos/ignition/v2/config/v3_6/types"
	"github.com/mantlet/mantlet/firstboot/config"
	"github.com/mantlet/mantlet/firstboot/internal/fixture"
	"github.com/mantlet/mantlet/firstboot/rootfs"
	"github.com/mantlet/mantlet/internal/command"
)

// baseFiles is a minimal root: the account databases and a /home symlink as in the image.
var baseFiles = map[string]string{
	"etc/passwd":  "root:x:0:0:root:/root:/bin/bash\nsvc:x:998:998::/nonexistent:/usr/sbin/nologin\n",
	"etc/group":   "root:x:0:\nsvc:x:998:\nadm:x:4:\n",
	"etc/shadow":  "root:*:19000:0:99999:7:::\nsvc:!:19000::::::\n",
	"etc/gshadow": "root:*::\nsvc:!::\nadm:*::\n",
	// Debian's: useradd gives a new user a group of its name
	"etc/login.defs": "UID_MIN 1000\nUSERGROUPS_ENAB yes\nHOME_MODE 0700\n",
	"home":           "-> /var/home",
	"var/home/":      "",
	"root/":          "",
}

// newEnv builds a root from files: a name ending in "/" is a directory, contents starting
// with "-> " make a symlink.
func newEnv(t *testing.T, files map[string]string) (*Env, *command.Recorder) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(data, "-> "); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(data), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fsys, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	rec := &command.Recorder{}
	return &Env{FS: fsys, Runner: rec, Logf: t.Logf}, rec
}

func with(base map[string]string, more map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func parse(t *testing.T, raw string) types.Config {
	t.Helper()
	cfg, rep := config.Parse([]byte(raw))
	if err := rep.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runStage(t *testing.T, s Stage, env *Env, cfg types.Config) error {
	t.Helper()
	a, err := s.Prepare(context.Background(), env, cfg)
	if err != nil || a == nil {
		return err
	}
	return a(context.Background())
}

// listing describes the tree under dir for before/after comparisons (fixture.Tree).
func listing(t *testing.T, dir string) string {
	t.Helper()
	out, err := fixture.Tree(dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
