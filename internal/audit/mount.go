package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// bindReadOnly makes target a read-only bind mount of src and returns the function that
// unmounts it. The scanner needs a read-only view: on a writable tree its dpkg probe fails and
// it leaves files behind.
func bindReadOnly(src, target string) (unmount func() error, err error) {
	src, err = filepath.Abs(src)
	if err != nil {
		return nil, err
	}
	if src == "/" {
		return nil, fmt.Errorf("refusing to scan this machine's own root: give an image or an unpacked tree")
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return nil, err
	}
	if err := syscall.Mount(src, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return nil, mountError("bind mount "+src, err)
	}
	unmount = func() error {
		if err := syscall.Unmount(target, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
		return nil
	}
	if err := syscall.Mount("", target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		_ = unmount()
		return nil, mountError("remount "+target+" read-only", err)
	}
	return unmount, nil
}

func mountError(what string, err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%s: %w (%w)", what, ErrMountNotPermitted, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
