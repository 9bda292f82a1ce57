package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/spec"
)

// stepRootImage packs the root tarball into a compressed, read-only squashfs image with
// tar2sqfs (squashfs-tools-ng): no mounts, no root privileges, owners, modes, setuid bits and
// xattrs kept from the tarball, output identical for identical input whatever the job count.
// The tarball goes through mmtarfilter first, which drops the system.* xattrs squashfs
// cannot store: POSIX ACLs (systemd's tmpfiles.d puts an ACL on /var/log/journal, and sets it
// again on every boot); file capabilities (security.*) and the rest stay.
type stepRootImage struct{}

func (*stepRootImage) Name() string { return "rootimage" }

func (*stepRootImage) Run(ctx context.Context, st *State) error {
	in, err := os.Open(st.RootTar)
	if err != nil {
		return err
	}
	defer in.Close()
	out := filepath.Join(st.WorkDir, "root.squashfs")
	pr, pw := io.Pipe()
	filtered := make(chan error, 1)
	go func() {
		_, err := st.Opts.Runner.Run(ctx, command.Cmd{Name: "mmtarfilter", Args: mmtarfilterArgs(), Stdin: in, Stdout: pw})
		pw.CloseWithError(err)
		filtered <- err
	}()
	_, err = st.Opts.Runner.Run(ctx, command.Cmd{
		Name:  "tar2sqfs",
		Args:  tar2sqfsArgs(st.Plan, runtime.NumCPU(), out),
		Stdin: pr,
	})
	pr.CloseWithError(io.ErrClosedPipe) // mmtarfilter stops if tar2sqfs stopped reading
	if ferr := <-filtered; err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
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
	// The tarball is large and no longer needed.
	if !st.Opts.KeepWork {
		os.Remove(st.RootTar)
	}
	return nil
}

func (*stepRootImage) Cleanup(*State) {}

// mmtarfilterArgs drops the xattrs tar2sqfs refuses (it stores only user., trusted. and
// security. ones): system.posix_acl_access and system.posix_acl_default. Pure: table-tested.
func mmtarfilterArgs() []string {
	return []string{"--pax-exclude=SCHILY.xattr.system.*"}
}

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
