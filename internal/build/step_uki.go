package build

import (
	"context"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
)

// defaultStub is systemd-boot's EFI stub from Debian's systemd-boot-efi.
const defaultStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// stepUKI joins systemd's EFI stub, the kernel, the initrd, the kernel command line (carrying
// the verity root hash) and os-release into one unified kernel image with objcopy, then pins
// the PE header timestamp to SOURCE_DATE_EPOCH so that the same inputs give the same bytes.
type stepUKI struct{}

func (*stepUKI) Name() string { return "uki" }

func stubPath(o Options) string {
	if o.Stub != "" {
		return o.Stub
	}
	return defaultStub
}

func (*stepUKI) Run(ctx context.Context, st *State) error {
	stub := stubPath(st.Opts)
	cmdline := kernelCmdline(st.Plan.Cmdline, st.Verity)
	osrel := osRelease(st.Plan.Name, st.Plan.Release, st.Verity.RootHash)
	cmdlineFile := filepath.Join(st.WorkDir, "cmdline.txt")
	osrelFile := filepath.Join(st.WorkDir, "os-release")
	if err := writeFile(cmdlineFile, []byte(cmdline), 0o644); err != nil {
		return err
	}
	if err := writeFile(osrelFile, []byte(osrel), 0o644); err != nil {
		return err
	}
	layout, err := stubLayout(stub)
	if err != nil {
		return fmt.Errorf("EFI stub %s: %w", stub, err)
	}
	secs := []ukiSection{{Name: ".osrel", File: osrelFile}, {Name: ".cmdline", File: cmdlineFile}, {Name: ".linux", File: st.Kernel}, {Name: ".initrd", File: st.Initrd}}
	for i := range secs {
		fi, err := os.Stat(secs[i].File)
		if err != nil {
			return err
		}
		secs[i].Size = fi.Size()
	}
	out := filepath.Join(st.WorkDir, "uki.efi")
	if _, err := st.Opts.Runner.Run(ctx, command.Cmd{
		Name: "objcopy",
		Args: objcopyArgs(layout, secs, stub, out),
		Env:  []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", st.Plan.SourceDateEpoch)},
	}); err != nil {
		return err
	}
	if err := setPETimestamp(out, uint32(st.Plan.SourceDateEpoch)); err != nil {
		return fmt.Errorf("UKI %s: %w", out, err)
	}
	a, err := artifact(out) // for the manifest, while the file is fresh in the page cache
	if err != nil {
		return err
	}
	st.UKI, st.Cmdline, st.ukiArtifact = out, cmdline, a
	return nil
}

func (*stepUKI) Cleanup(*State) {}

// kernelCmdline is the image's command line plus what the initrd needs to open the verity
// root. The build owns root=, ro and the mantlet.verity.* arguments.
func kernelCmdline(base []string, v Verity) string {
	args := []string{"root=/dev/mapper/root", "rootfstype=squashfs", "ro",
		"mantlet.verity.roothash=" + v.RootHash,
		"mantlet.verity.data=PARTUUID=" + v.DataPartUUID,
		"mantlet.verity.hash=PARTUUID=" + v.HashPartUUID}
	return strings.Join(append(args, base...), " ")
}

// osRelease is the .osrel section: what the boot menu and `bootctl` show.
func osRelease(name, release, rootHash string) string {
	return fmt.Sprintf("ID=debian\nVERSION_CODENAME=%s\nPRETTY_NAME=\"mantlet %s (Debian %s)\"\nIMAGE_ID=%s\nIMAGE_VERSION=%s\n",
		release, name, release, name, rootHash[:12])
}

// peLayout is what objcopy needs to know of the stub to place new sections after it.
type peLayout struct {
	ImageBase uint64
	Align     uint64 // SectionAlignment
	End       uint64 // first free virtual address (relative to ImageBase) after the last section
}

type ukiSection struct {
	Name string
	File string
	Size int64
}

func stubLayout(path string) (peLayout, error) {
	f, err := pe.Open(path)
	if err != nil {
		return peLayout{}, err
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return peLayout{}, fmt.Errorf("not a PE32+ (x86-64) image")
	}
	var end uint64
	for _, s := range f.Sections {
		if e := uint64(s.VirtualAddress) + uint64(s.VirtualSize); e > end {
			end = e
		}
	}
	// Page-align the added sections even where the stub's own alignment is smaller (systemd
	// 252's stub says 512), so that firmware can map them with page permissions.
	align := max(uint64(oh.SectionAlignment), 4096)
	return peLayout{ImageBase: oh.ImageBase, Align: align, End: end}, nil
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) / a * a }

// objcopyArgs adds the sections one after the other, each aligned, after the stub's own.
// Pure: table-tested.
func objcopyArgs(l peLayout, secs []ukiSection, stub, out string) []string {
	var args []string
	vma := alignUp(l.End, l.Align)
	for _, s := range secs {
		args = append(args,
			"--add-section", s.Name+"="+s.File,
			"--change-section-vma", fmt.Sprintf("%s=0x%x", s.Name, l.ImageBase+vma))
		vma = alignUp(vma+uint64(s.Size), l.Align)
	}
	return append(args, stub, out)
}

// setPETimestamp overwrites the COFF header's TimeDateStamp, which objcopy sets to the time
// of the build, and recomputes the optional header's CheckSum, which covers it.
func setPETimestamp(path string, ts uint32) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) < 0x40 || data[0] != 'M' || data[1] != 'Z' {
		return fmt.Errorf("no MZ header")
	}
	peOff := int(binary.LittleEndian.Uint32(data[0x3c:]))
	// PE signature (4), COFF header (20), then the optional header whose CheckSum is at 64.
	sumOff := peOff + 4 + 20 + 64
	if peOff < 0 || sumOff+4 > len(data) || string(data[peOff:peOff+4]) != "PE\x00\x00" {
		return fmt.Errorf("no PE signature")
	}
	// COFF header: Machine (2), NumberOfSections (2), TimeDateStamp (4).
	binary.LittleEndian.PutUint32(data[peOff+8:], ts)
	binary.LittleEndian.PutUint32(data[sumOff:], peChecksum(data, sumOff))
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return writeFile(path, data, fi.Mode().Perm())
}

// peChecksum is the image checksum of the PE format: the 16-bit one's-complement style sum of
// the file, with the CheckSum field itself taken as zero, plus the file length.
func peChecksum(data []byte, sumOff int) uint32 {
	var sum uint64
	for i := 0; i < len(data); i += 2 {
		var w uint64
		switch {
		case i >= sumOff && i < sumOff+4:
			w = 0
		case i+1 < len(data):
			w = uint64(binary.LittleEndian.Uint16(data[i:]))
		default:
			w = uint64(data[i])
		}
		sum += w
		sum = (sum & 0xffff) + (sum >> 16)
	}
	sum = (sum & 0xffff) + (sum >> 16)
	return uint32(sum) + uint32(len(data))
}
