package build

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestObjcopyArgsPlacesSectionsAfterStub(t *testing.T) {
	l := peLayout{ImageBase: 0x140000000, Align: 0x1000, End: 0x1c8a5}
	secs := []ukiSection{{".osrel", "/w/os-release", 100}, {".cmdline", "/w/cmdline.txt", 0x1001}, {".linux", "/k", 0x7e0000}, {".initrd", "/i", 10}}
	got := objcopyArgs(l, secs, "/stub", "/out.efi")
	want := []string{
		"--add-section", ".osrel=/w/os-release", "--change-section-vma", ".osrel=0x14001d000",
		"--add-section", ".cmdline=/w/cmdline.txt", "--change-section-vma", ".cmdline=0x14001e000",
		"--add-section", ".linux=/k", "--change-section-vma", ".linux=0x140020000",
		"--add-section", ".initrd=/i", "--change-section-vma", ".initrd=0x140800000",
		"/stub", "/out.efi",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestKernelCmdlineCarriesVerity(t *testing.T) {
	v := Verity{RootHash: strings.Repeat("ab", 32), DataPartUUID: "d", HashPartUUID: "h"}
	got := kernelCmdline([]string{"console=ttyS0"}, v)
	want := "root=/dev/mapper/root rootfstype=squashfs ro mantlet.verity.roothash=" + v.RootHash +
		" mantlet.verity.data=PARTUUID=d mantlet.verity.hash=PARTUUID=h console=ttyS0"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestSetPETimestamp(t *testing.T) {
	img := make([]byte, 0x200)
	copy(img, "MZ")
	binary.LittleEndian.PutUint32(img[0x3c:], 0x80)
	copy(img[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint32(img[0x88:], 0xdeadbeef)
	p := filepath.Join(t.TempDir(), "x.efi")
	os.WriteFile(p, img, 0o644)
	if err := setPETimestamp(p, 1735689600); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(p)
	if got := binary.LittleEndian.Uint32(out[0x88:]); got != 1735689600 {
		t.Fatalf("timestamp = %d", got)
	}
	if got, want := binary.LittleEndian.Uint32(out[0xd8:]), peChecksum(out, 0xd8); got != want || got == 0 {
		t.Fatalf("checksum = %#x, want %#x", got, want)
	}
	os.WriteFile(p, []byte("not a PE file at all, just text......................................."), 0o644)
	if err := setPETimestamp(p, 1); err == nil {
		t.Fatal("no error for a non-PE file")
	}
}

// The real stub from systemd-boot-efi, when installed, has a layout objcopy can extend.
func TestStubLayoutOfRealStub(t *testing.T) {
	if !exists(defaultStub) {
		t.Skipf("%s not installed (systemd-boot-efi; make deps)", defaultStub)
	}
	l, err := stubLayout(defaultStub)
	if err != nil {
		t.Fatal(err)
	}
	if l.Align < 4096 || l.End == 0 {
		t.Fatalf("layout %+v", l)
	}
}

// The checksum of a real, signed-off PE file: the EFI stub as Debian ships it carries the
// checksum objcopy/ld computed; peChecksum must agree with it whenever it is set.
func TestPEChecksumAgreesWithLinker(t *testing.T) {
	for _, path := range []string{defaultStub, "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("%s: %v (systemd-boot-efi; make deps)", path, err)
		}
		off := int(binary.LittleEndian.Uint32(data[0x3c:])) + 4 + 20 + 64
		stored := binary.LittleEndian.Uint32(data[off:])
		if stored == 0 {
			t.Logf("%s carries no checksum", path)
			continue
		}
		if got := peChecksum(data, off); got != stored {
			t.Errorf("%s: peChecksum = %#x, the file says %#x", path, got, stored)
		}
	}
}
