package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// profileFile is one profile as loaded, in the order of application.
type profileFile struct {
	path string
	data []byte
	prof *Profile
	pos  *Positions
}

// secondKernels finds profile packages that would install a kernel besides the image's.
func secondKernels(img *Image, profiles []profileFile) Errors {
	var errs Errors
	for _, pf := range profiles {
		for i, pkg := range pf.prof.Packages {
			if isKernelPackage(pkg) && pkg != img.Kernel.Package {
				p := fmt.Sprintf("packages[%d]", i)
				errs = append(errs, FieldError{File: pf.path, Line: pf.pos.Line(p), Path: p, Msg: oneKernel(pkg)})
			}
		}
	}
	return errs
}

// NewPlan loads and validates the image definition at imagePath and the profile at
// profilePath ("" for none) with everything it includes, and expands them into a Plan.
// Every problem in every file is returned at once as an Errors value; warnings are returned
// apart and do not stop the plan. When the image names no mirror, the apt sources of the
// build machine under sourcesRoot ("/" in production) give it.
func NewPlan(imagePath, profilePath, sourcesRoot string) (*Plan, Errors, error) {
	var warns, errs Errors
	collect := func(w, e Errors) {
		warns, errs = append(warns, w...), append(errs, e...)
	}
	imgData, err := os.ReadFile(imagePath)
	if err != nil {
		return nil, nil, fmt.Errorf("read image definition: %w", err)
	}
	img, _, w, e := checkImage(imagePath, imgData)
	collect(w, e)
	l := &profileLoader{done: map[string]bool{}, names: map[string]string{}}
	if abs, err := filepath.Abs(profilePath); err == nil {
		l.base = filepath.Dir(abs)
	}
	if profilePath != "" {
		if err := l.load(profilePath, nil); err != nil {
			return nil, warns, err
		}
	}
	collect(l.warns, l.errs)
	if img != nil {
		errs = append(errs, secondKernels(img, l.loaded)...)
	}
	collect(nil, checkDockerProfiles(l.loaded))
	if len(errs) > 0 {
		return nil, warns, errs
	}
	var mirror *Mirror
	if img.Mirror != nil {
		mirror = &Mirror{Debian: strings.TrimRight(img.Mirror.Debian, "/"), Security: strings.TrimRight(img.Mirror.Security, "/")}
		if mirror.Security == "" {
			mirror.Security = mirror.Debian
		}
	} else if mirror, err = HostSources(sourcesRoot, img.Release); err != nil {
		return nil, warns, err
	}
	p, err := expand(img, filepath.Dir(imagePath), mirror, l.loaded)
	if err != nil {
		return nil, warns, err
	}
	p.ImageDigest, err = digest(img, imgData, l.loaded)
	if err != nil {
		return nil, warns, err
	}
	return p, warns, nil
}

// profileLoader loads a profile and its includes depth first, each file once.
type profileLoader struct {
	loaded      []profileFile
	base        string            // the first profile's directory: include chains are shown from it
	done        map[string]bool   // absolute paths loaded (or failed)
	names       map[string]string // profile name -> the file that has it
	warns, errs Errors
}

// load loads path after its includes; stack is the chain of files including it.
func (l *profileLoader) load(path string, stack []string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	if l.done[abs] {
		return nil
	}
	l.done[abs] = true
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read profile: %w", err)
	}
	prof, pos, w, e := checkProfile(path, data)
	l.warns, l.errs = append(l.warns, w...), append(l.errs, e...)
	if prof == nil {
		return nil // not one YAML document: reported
	}
	if other, dup := l.names[prof.Name]; dup && prof.Name != "" {
		l.errs = append(l.errs, FieldError{File: path, Line: pos.Line("name"), Path: "name",
			Msg: fmt.Sprintf("%q is also the name of %s", prof.Name, other)})
	}
	l.names[prof.Name] = path
	stack = append(stack, abs)
	for i, inc := range prof.Include {
		if inc == "" || filepath.IsAbs(inc) {
			continue // reported by ValidateProfile
		}
		incPath := filepath.Join(filepath.Dir(path), filepath.FromSlash(inc))
		incAbs, _ := filepath.Abs(incPath)
		if at := slices.Index(stack, incAbs); at >= 0 {
			chain := make([]string, 0, len(stack)-at+1)
			for _, s := range append(stack[at:], incAbs) {
				chain = append(chain, relTo(l.base, s))
			}
			p := fmt.Sprintf("include[%d]", i)
			l.errs = append(l.errs, FieldError{File: path, Line: pos.Line(p), Path: p,
				Msg: "include cycle: " + strings.Join(chain, " -> ")})
			continue
		}
		if _, err := os.Stat(incPath); err != nil {
			continue // reported by ValidateProfile
		}
		if err := l.load(incPath, stack); err != nil {
			return err
		}
	}
	l.loaded = append(l.loaded, profileFile{path: path, data: data, prof: prof, pos: pos})
	return nil
}

// relTo shows path relative to dir when it can.
func relTo(dir, path string) string {
	if rel, err := filepath.Rel(dir, path); err == nil {
		return filepath.ToSlash(rel)
	}
	return path
}

// digest hashes the image definition, the kernel package file (by its checked sha256), every
// profile and every file source, in the order of application. Each part is headed by a line "kind name length" so that no two different
// inputs give the same stream; names are the image and profile names (never host paths), so
// the digest does not depend on where the checkout is.
func digest(img *Image, imgData []byte, profiles []profileFile) (string, error) {
	h := sha256.New()
	part(h, "image", img.Name, imgData)
	if d := img.Kernel.Deb; d != nil {
		// The definition pins the file by its sha256, which validation checked: the sum
		// stands for the file's content.
		part(h, "kernel.deb", filepath.ToSlash(d.Path), []byte(d.SHA256))
	}
	for _, pf := range profiles {
		part(h, "profile", pf.prof.Name, pf.data)
	}
	for _, pf := range profiles {
		for _, f := range pf.prof.Files {
			if f.Source == "" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(filepath.Dir(pf.path), filepath.FromSlash(f.Source)))
			if err != nil {
				return "", fmt.Errorf("profile %s: %w", pf.path, err)
			}
			part(h, "source", pf.prof.Name+"/"+filepath.ToSlash(f.Source), data)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func part(h hash.Hash, kind, name string, data []byte) {
	fmt.Fprintf(h, "%s %s %d\n", kind, name, len(data))
	h.Write(data)
}
