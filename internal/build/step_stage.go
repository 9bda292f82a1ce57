package build

import (
	"bytes"
	"context"
	"embed"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mantlet/mantlet/internal/fsutil"
)

// imageFiles are placed in the root tree right after the essential packages, before the
// kernel is installed: the initramfs-tools configuration and scripts that open the verity root.
//
//go:embed all:imagefiles
var imageFiles embed.FS

// stepStage writes what the package layer gets besides packages: StageDir/pre, copied in
// right after the essential packages and before the kernel, so that the initrd is built once,
// the right way: the initramfs-tools configuration, its scripts, the initrd's modules.
// Everything else the tree gets is the configuration on top (stepConfigure).
type stepStage struct{}

func (*stepStage) Name() string { return "stage" }

func (*stepStage) Run(_ context.Context, st *State) error {
	st.StageDir = filepath.Join(st.WorkDir, "stage")
	pre := filepath.Join(st.StageDir, "pre")
	if err := copyEmbedded(imageFiles, "imagefiles", pre); err != nil {
		return err
	}
	mods := "# from kernel.initrd_modules of the image definition\n" + strings.Join(st.Plan.InitrdModules, "\n") + "\n"
	return writeFile(filepath.Join(pre, "etc/initramfs-tools/mantlet-modules"), []byte(mods), 0o644)
}

func (*stepStage) Cleanup(*State) {}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// copyEmbedded writes the tree under root of fsys into dst; scripts (#!) become executable.
func copyEmbedded(fsys fs.FS, root, dst string) error {
	return fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := fsys.Open(p)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if bytes.HasPrefix(data, []byte("#!")) {
			mode = 0o755
		}
		rel := strings.TrimPrefix(p, root)
		return writeFile(filepath.Join(dst, rel), data, mode)
	})
}

// writeFile writes data to path atomically, making parents.
func writeFile(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, data, mode)
}
