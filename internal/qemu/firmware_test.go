package qemu

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFindFirmware(t *testing.T) {
	dirs := []string{"/usr/share/OVMF", "/usr/share/edk2/ovmf"}
	tests := []struct {
		name    string
		files   []string
		want    Firmware
		wantErr bool
	}{
		{
			name:  "4M pair preferred",
			files: []string{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd", "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
			want:  Firmware{Code: "/usr/share/OVMF/OVMF_CODE_4M.fd", Vars: "/usr/share/OVMF/OVMF_VARS_4M.fd"},
		},
		{
			name:  "2M pair when the 4M one is incomplete",
			files: []string{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"},
			want:  Firmware{Code: "/usr/share/edk2/ovmf/OVMF_CODE.fd", Vars: "/usr/share/edk2/ovmf/OVMF_VARS.fd"},
		},
		{
			name:    "secure boot builds are not taken",
			files:   []string{"/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exists := func(p string) bool {
				for _, f := range tt.files {
					if f == p {
						return true
					}
				}
				return false
			}
			got, err := findFirmware(dirs, exists)
			if tt.wantErr {
				if !errors.Is(err, ErrNoFirmware) {
					t.Fatalf("err = %v, want ErrNoFirmware", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("findFirmware = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestCopyFileIsPrivate(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("vars"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(src, dst); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat dst = %v, %v; want mode 0600", fi, err)
	}
	if err := copyFile(src, dst); err == nil {
		t.Error("copyFile overwrote an existing file")
	}
}
