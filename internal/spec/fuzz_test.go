package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadImage feeds the image loader arbitrary bytes: it must never panic, every problem
// must name the file, and what validates must expand into a plan. Seeds: testdata/fuzz.
func FuzzLoadImage(f *testing.F) {
	if data, err := os.ReadFile("../../images/node.yaml"); err == nil {
		f.Add(data)
	}
	mirror := &Mirror{Debian: "http://mirror.example/debian", Security: "http://mirror.example/security"}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, pos, warns, errs := checkImage("f.yaml", data)
		for _, e := range append(warns, errs...) {
			if e.File != "f.yaml" || e.Line < 0 || e.Msg == "" {
				t.Fatalf("problem without a place or a message: %#v", e)
			}
		}
		_, _, decErr := DecodeImage("f.yaml", data)
		if len(errs) > 0 {
			if !strings.Contains(errs.Error(), "f.yaml") {
				t.Fatalf("error text without the file: %q", errs.Error())
			}
			return
		}
		if decErr != nil || img == nil || pos == nil {
			t.Fatalf("valid by checkImage, not by DecodeImage: %v", decErr)
		}
		p, err := expand(img, ".", mirror, nil)
		if err != nil {
			t.Fatalf("a valid image does not expand: %v", err)
		}
		if p.RootSize <= 0 || p.VeritySize < verityHashSize(p.RootSize) || len(p.Formats) == 0 || len(p.Sources) == 0 {
			t.Fatalf("expanded plan breaks its invariants: %+v", p)
		}
	})
}

// FuzzLoadProfile does the same for profiles, inside a directory of its own.
func FuzzLoadProfile(f *testing.F) {
	for _, name := range []string{"base.yaml", "worker.yaml"} {
		if data, err := os.ReadFile(filepath.Join("../../profiles", name)); err == nil {
			f.Add(data)
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "p.yaml")
		_, _, warns, errs := checkProfile(path, data)
		for _, e := range append(warns, errs...) {
			if e.File != path || e.Line < 0 || e.Msg == "" {
				t.Fatalf("problem without a place or a message: %#v", e)
			}
		}
	})
}

// FuzzIndexTargets feeds the reader of apt-get indextargets' lines arbitrary text: every
// source it returns has a URI, a suite and an architecture field (possibly empty), no tab.
func FuzzIndexTargets(f *testing.F) {
	f.Add([]byte("http://mirror.example/debian/\tbookworm\tamd64\tdeb\n"))
	f.Add([]byte("a\tb\n\t\t\tdeb\nx\ty\tz\tdeb-src\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range parseIndexTargets(data) {
			if strings.Contains(s.uri+s.suite+s.arch, "\t") {
				t.Fatalf("a field with a tab: %+v", s)
			}
		}
	})
}
