package build

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/command"
)

func TestParseToolVersion(t *testing.T) {
	for in, want := range map[string]string{
		"mmdebstrap 1.3.5\n": "1.3.5",
		"tar2sqfs (squashfs-tools-ng) 1.2.0\nCopyright (C) 2019 David Oberhollenzer\n": "1.2.0",
		"veritysetup 2.6.1 flags: UDEV BLKID KEYRING KERNEL_CAPI \n":                   "2.6.1",
		"veritysetup 2.7.0-rc1\n": "2.7.0-rc1",
	} {
		if got, err := parseToolVersion([]byte(in)); err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	if _, err := parseToolVersion([]byte("no version here\n")); err == nil {
		t.Error("no error without a version")
	}
}

// TestToolVersionsOfThisMachine asks the real tools and the real stub.
func TestToolVersionsOfThisMachine(t *testing.T) {
	if err := command.Require("mmdebstrap", "tar2sqfs", "veritysetup"); err != nil {
		t.Skip(err)
	}
	stub := stubPath(Options{})
	if !exists(stub) {
		t.Skip("no systemd EFI stub (systemd-boot-efi)")
	}
	v, err := imageToolVersions(context.Background(), command.Exec{}, stub)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("mmdebstrap", "--version").Output()
	if !strings.Contains(string(out), v.Mmdebstrap) || v.Tar2sqfs == "" || v.Veritysetup == "" || v.Mantlet == "" || v.MantletCommit == "" {
		t.Errorf("versions %+v", v)
	}
	if !strings.HasPrefix(v.EFIStub, "systemd-stub 2") {
		t.Errorf("stub %q", v.EFIStub)
	}
}
