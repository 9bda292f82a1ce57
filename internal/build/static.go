package build

import (
	"debug/elf"
	"errors"
)

// checkStatic makes sure path is a statically linked x86-64 ELF executable: the first-boot
// agent runs before anything else and must not depend on the image's libraries.
func checkStatic(path string) error {
	if path == "" {
		return errors.New("no first-boot agent given")
	}
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return errors.New("not an x86-64 executable")
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked: build it with CGO_ENABLED=0")
		}
	}
	return nil
}
