package build

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// Partition type GUIDs of the Discoverable Partitions Specification.
const (
	typeESP          = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	typeRootX86      = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
	typeRootVerity   = "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5"
	typeVar          = "4D21B016-B534-45C2-A9FB-5C16E091FD2D" // the state partition, made on first boot
	flagReadOnly     = uint64(1) << 60
	flagNoAuto       = uint64(1) << 63
	sector           = 512
	mib              = int64(1) << 20
	emptySlotName    = "_empty" // systemd-sysupdate's name for a free slot
	espPartition     = 1
	rootPartition    = 2
	verityPartition  = 3
	gptBackupSectors = 33
)

// PartitionInfo describes one partition of the disk, for the manifest.
type PartitionInfo struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	Type  string `json:"type"`
	GUID  string `json:"guid"`
	Start int64  `json:"start"` // bytes
	Size  int64  `json:"size"`  // bytes
}

// stepDisk writes the GPT disk with go-diskfs (no loop devices, no mounts): the EFI system
// partition (FAT32, the UKI at EFI/BOOT/BOOTX64.EFI), root slot A with its verity partition,
// an empty slot B of the same sizes for A/B updates, and free space at the end where first
// boot creates the state partition.
type stepDisk struct{}

func (*stepDisk) Name() string { return "disk" }

// diskLayout is the partition table for a plan and a verity root. Pure: table-tested.
func diskLayout(espSize, rootSize, veritySize, stateMin int64, v Verity) (parts []PartitionInfo, total int64, diskGUID string) {
	g := func(what string) string {
		h := sha256.Sum256([]byte("mantlet " + what + "\x00" + v.RootHash))
		return uuidFromBytes(h[:16])
	}
	off := mib
	add := func(name, typ, guid string, size int64) {
		parts = append(parts, PartitionInfo{Index: len(parts) + 1, Name: name, Type: typ, GUID: guid, Start: off, Size: size})
		off += alignMiB(size)
	}
	add("esp", typeESP, g("esp"), espSize)
	add("root-x86-64", typeRootX86, v.DataPartUUID, rootSize)
	add("root-x86-64-verity", typeRootVerity, v.HashPartUUID, veritySize)
	add(emptySlotName, typeRootX86, g("root-b"), rootSize)
	add(emptySlotName, typeRootVerity, g("verity-b"), veritySize)
	total = off + alignMiB(stateMin) + mib
	return parts, total, g("disk")
}

func alignMiB(n int64) int64 { return (n + mib - 1) / mib * mib }

func partitionAttributes(p PartitionInfo) uint64 {
	switch {
	case p.Name == emptySlotName:
		return flagNoAuto
	case p.Type == typeRootX86 || p.Type == typeRootVerity:
		return flagReadOnly
	}
	return 0
}

func (*stepDisk) Run(_ context.Context, st *State) error {
	p := st.Plan
	parts, total, diskGUID := diskLayout(p.ESPSize, p.RootSize, p.VeritySize, p.StateMinSize, st.Verity)
	raw := rawPath(st)
	os.Remove(raw)
	d, err := diskfs.Create(raw, total, diskfs.SectorSize(sector))
	if err != nil {
		return fmt.Errorf("create %s: %w", raw, err)
	}
	if err := partitionDisk(d, parts, diskGUID, st.UKI, p.SourceDateEpoch); err != nil {
		d.Close()
		return err
	}
	if err := d.Close(); err != nil {
		return err
	}
	for _, pf := range []struct {
		part PartitionInfo
		file string
	}{{parts[rootPartition-1], st.RootImage}, {parts[verityPartition-1], st.HashImage}} {
		if err := writeAt(raw, pf.part, pf.file); err != nil {
			return fmt.Errorf("partition %s: %w", pf.part.Name, err)
		}
	}
	st.RawDisk, st.Partitions = raw, parts
	return nil
}

// partitionDisk writes the GPT and the EFI system partition with the UKI. go-diskfs stamps FAT
// directory entries with the time it reads from SOURCE_DATE_EPOCH in the environment (and the
// wall clock without it), so the epoch is set there for the duration of the write.
func partitionDisk(d *disk.Disk, parts []PartitionInfo, diskGUID, uki string, epoch int64) error {
	old, had := os.LookupEnv("SOURCE_DATE_EPOCH")
	os.Setenv("SOURCE_DATE_EPOCH", strconv.FormatInt(epoch, 10))
	defer func() {
		if had {
			os.Setenv("SOURCE_DATE_EPOCH", old)
		} else {
			os.Unsetenv("SOURCE_DATE_EPOCH")
		}
	}()
	table := &gpt.Table{LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true, GUID: diskGUID}
	for _, pi := range parts {
		table.Partitions = append(table.Partitions, &gpt.Partition{
			Index: pi.Index, Start: uint64(pi.Start / sector), End: uint64((pi.Start+pi.Size)/sector - 1), Size: uint64(pi.Size),
			Type: gpt.Type(pi.Type), Name: pi.Name, GUID: pi.GUID, Attributes: partitionAttributes(pi),
		})
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("write partition table: %w", err)
	}
	if err := writeESP(d, uki); err != nil {
		return fmt.Errorf("EFI system partition: %w", err)
	}
	return nil
}

func (*stepDisk) Cleanup(*State) {}

// rawPath is where the raw disk is written: as the raw output itself when raw is a format.
func rawPath(st *State) string {
	if slices.Contains(st.Plan.Formats, "raw") {
		return filepath.Join(st.WorkDir, st.Plan.Name+".raw")
	}
	return filepath.Join(st.WorkDir, "disk.raw")
}

func writeESP(d *disk.Disk, uki string) error {
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: espPartition, FSType: filesystem.TypeFat32, VolumeLabel: "ESP", Reproducible: true})
	if err != nil {
		return err
	}
	if err := fs.Mkdir("/EFI/BOOT"); err != nil {
		return err
	}
	dst, err := fs.OpenFile("/EFI/BOOT/BOOTX64.EFI", os.O_CREATE|os.O_RDWR)
	if err != nil {
		return err
	}
	src, err := os.Open(uki)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := io.Copy(dst, src); err != nil {
		return err
	}
	return dst.Close()
}

// writeAt copies file into the partition's place in the raw disk; the rest stays sparse.
func writeAt(raw string, p PartitionInfo, file string) error {
	src, err := os.Open(file)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > p.Size {
		return fmt.Errorf("%s is %d bytes, the partition %d", file, fi.Size(), p.Size)
	}
	dst, err := os.OpenFile(raw, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.NewOffsetWriter(dst, p.Start), src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
