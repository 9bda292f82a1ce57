package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/mantlet/mantlet/internal/command"
)

// testDisk writes a GPT disk with an ESP and a partition named root, whose content is payload.
func testDisk(t *testing.T, root string, payload []byte) string {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "disk.raw")
	d, err := diskfs.Create(raw, 8<<20, diskfs.SectorSize(512))
	if err != nil {
		t.Fatal(err)
	}
	table := &gpt.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true, Partitions: []*gpt.Partition{
		{Index: 1, Start: 2048, End: 4095, Size: 1 << 20, Type: gpt.EFISystemPartition, Name: "esp"},
		{Index: 2, Start: 4096, End: 6143, Size: 1 << 20, Type: gpt.LinuxFilesystem, Name: root},
	}}
	if err := d.Partition(table); err != nil {
		t.Fatal(err)
	}
	d.Close()
	f, err := os.OpenFile(raw, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(payload, 4096*512); err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestExtractDisk(t *testing.T) {
	payload := bytes.Repeat([]byte("hsqs"), 1000)
	raw := testDisk(t, RootPartition, payload)
	work := t.TempDir()
	rec := &command.Recorder{Respond: func(c command.Cmd) ([]byte, error) {
		// The partition is copied whole: it starts with what was written there.
		data, err := os.ReadFile(c.Args[len(c.Args)-1])
		if err != nil {
			return nil, err
		}
		if len(data) != 1<<20 || !bytes.HasPrefix(data, payload) {
			t.Errorf("unsquashfs got %d bytes, starting %q", len(data), data[:8])
		}
		return nil, os.Mkdir(c.Args[3], 0o755)
	}}
	root, err := extractDisk(context.Background(), rec, raw, work)
	if err != nil {
		t.Fatal(err)
	}
	if root != filepath.Join(work, "root") || len(rec.Calls) != 1 || rec.Calls[0].Name != "unsquashfs" {
		t.Errorf("root %s, calls %+v", root, rec.Calls)
	}
	if _, err := os.Stat(filepath.Join(work, "root.squashfs")); !os.IsNotExist(err) {
		t.Errorf("the partition copy is left: %v", err)
	}
}

func TestExtractDiskNoRoot(t *testing.T) {
	raw := testDisk(t, "data", []byte("x"))
	_, err := extractDisk(context.Background(), &command.Recorder{}, raw, t.TempDir())
	if !errors.Is(err, ErrNoRootPartition) {
		t.Errorf("error %v, want ErrNoRootPartition", err)
	}
}

func TestBindReadOnlyRefusesHostRoot(t *testing.T) {
	if _, err := bindReadOnly("/", filepath.Join(t.TempDir(), "ro")); err == nil {
		t.Fatal("bind mounting this machine's root: want an error")
	}
}

func TestMountErrorNotPermitted(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES} {
		if err := mountError("bind mount /x", errno); !errors.Is(err, ErrMountNotPermitted) || !errors.Is(err, errno) {
			t.Errorf("%v: got %v", errno, err)
		}
	}
	if err := mountError("bind mount /x", syscall.ENOENT); errors.Is(err, ErrMountNotPermitted) {
		t.Errorf("ENOENT reads as not permitted: %v", err)
	}
}
