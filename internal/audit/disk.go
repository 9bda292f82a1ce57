package audit

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/mantlet/mantlet/internal/command"
)

// RootPartition is the GPT partition name of the root filesystem (slot A) of a mantlet disk.
const RootPartition = "root-x86-64"

// extractDisk copies the root partition of the raw disk image at img to a file in work and
// unpacks it (squashfs) into work/root, which it returns. No loop devices, no mounts.
func extractDisk(ctx context.Context, r command.Runner, img, work string) (string, error) {
	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return "", fmt.Errorf("open disk image %s: %w", img, err)
	}
	defer d.Close()
	pt, err := d.GetPartitionTable()
	if err != nil {
		return "", fmt.Errorf("disk image %s: partition table: %w", img, err)
	}
	table, ok := pt.(*gpt.Table)
	if !ok {
		return "", fmt.Errorf("disk image %s: not a GPT disk", img)
	}
	var part *gpt.Partition
	for _, p := range table.Partitions {
		if p != nil && p.Name == RootPartition {
			part = p
			break
		}
	}
	if part == nil {
		return "", fmt.Errorf("disk image %s: %w", img, ErrNoRootPartition)
	}
	sector := int64(table.LogicalSectorSize)
	if sector == 0 {
		sector = 512
	}
	squash := filepath.Join(work, "root.squashfs")
	if err := copyRange(img, squash, int64(part.Start)*sector, int64(part.End-part.Start+1)*sector); err != nil {
		return "", fmt.Errorf("copy %s partition: %w", RootPartition, err)
	}
	root := filepath.Join(work, "root")
	_, err = r.Run(ctx, command.Cmd{Name: "unsquashfs", Args: unsquashfsArgs(root, squash)})
	os.Remove(squash)
	if err != nil {
		return "", fmt.Errorf("unpack the root filesystem: %w", err)
	}
	return root, nil
}

// unsquashfsArgs unpacks image into dir (which must not exist), quietly, keeping xattrs.
func unsquashfsArgs(dir, image string) []string {
	return []string{"-no-progress", "-quiet", "-d", dir, image}
}

func copyRange(src, dst string, off, n int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, io.NewSectionReader(in, off, n)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
