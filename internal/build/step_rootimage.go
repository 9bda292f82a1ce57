package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/spec"
)

// stepRootImage packs the root tree into a compressed, read-only squashfs image with
// tar2sqfs (squashfs-tools-ng): no mounts, no root privileges, owners, modes, setuid bits and
// xattrs kept from the tarball, output identical for identical input whatever the job count.
type stepRootImage struct{}

func (*stepRootImage) Name() string { return "rootimage" }

func (*stepRootImage) Run(ctx context.Context, st *State) error {
	// The tree is streamed into tar2sqfs: no tarball of it is written.
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	streamed := make(chan error, 1)
	go func() {
		_, err := st.Tree.WriteTo(pw)
		pw.Close()
		streamed <- err
	}()
	out := filepath.Join(st.WorkDir, "root.squashfs")
	_, err = st.Opts.Runner.Run(ctx, command.Cmd{
		Name:  "tar2sqfs",
		Args:  tar2sqfsArgs(st.Plan, runtime.NumCPU(), out),
		Stdin: pr,
	})
	pr.Close() // a tar2sqfs that stopped reading ends the stream
	switch serr := <-streamed; {
	case serr != nil && (err == nil || !errors.Is(serr, syscall.EPIPE)):
		// The stream failed first: tar2sqfs failing then is no news.
		return fmt.Errorf("root tree: %w", serr)
	case err != nil:
		return err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return err
	}
	if fi.Size() > st.Plan.RootSize {
		return fmt.Errorf("root image is %d MiB, more than disk.root_size (%d MiB): raise disk.root_size or install less",
			fi.Size()>>20, st.Plan.RootSize>>20)
	}
	st.RootImage = out
	return nil
}

func (*stepRootImage) Cleanup(*State) {}

// compressionLevels are chosen for a fast build with most of the size gain of the maximum.
var compressionLevels = map[string]int{"zstd": 9, "xz": 0, "gzip": 9, "lz4": 0, "lzo": 0}

// tar2sqfsArgs builds tar2sqfs's argument list. Pure: table-tested. --no-skip: a tar record
// tar2sqfs cannot read fails the build; without it the record is skipped with a warning on
// standard error, which nobody reads when the tool succeeds, and the image lacks the file.
func tar2sqfsArgs(p *spec.Plan, jobs int, out string) []string {
	args := []string{"--quiet", "--no-skip", "--force", "--compressor", p.Compression}
	if lvl := compressionLevels[p.Compression]; lvl > 0 {
		args = append(args, "--comp-extra", "level="+strconv.Itoa(lvl))
	}
	if jobs < 1 {
		jobs = 1
	}
	return append(args,
		"--num-jobs", strconv.Itoa(jobs),
		"--defaults", fmt.Sprintf("uid=0,gid=0,mode=0755,mtime=%d", p.SourceDateEpoch),
		out)
}
