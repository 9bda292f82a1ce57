package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// goldenPlan shows file contents as text, so that a change to them reads in a diff.
type goldenPlan struct {
	*Plan
	Files []goldenFile
}

type goldenFile struct {
	PlanFile
	Data string
}

func planJSON(t *testing.T, p *Plan) []byte {
	t.Helper()
	g := goldenPlan{Plan: p}
	for _, f := range p.Files {
		g.Files = append(g.Files, goldenFile{PlanFile: f, Data: string(f.Data)})
	}
	out, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s", path, got)
	}
}

func TestNewPlanGolden(t *testing.T) {
	p, warns, err := NewPlan("../../images/node.yaml", "../../profiles/worker.yaml", "testdata/hostroot")
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}
	checkGolden(t, "plan-node-worker.golden", planJSON(t, p))
}

// TestSamples keeps the repository's image definitions and profiles valid and warning-free.
func TestSamples(t *testing.T) {
	images, _ := filepath.Glob("../../images/*.yaml")
	all, _ := filepath.Glob("../../profiles/*.yaml")
	var profiles []string
	for _, p := range all {
		if !strings.HasSuffix(p, ".waivers.yaml") { // waiver files of the audit sections
			profiles = append(profiles, p)
		}
	}
	if len(images) == 0 || len(profiles) == 0 {
		t.Fatalf("no samples: images %v, profiles %v", images, profiles)
	}
	for _, img := range images {
		if _, _, err := LoadImage(img); err != nil {
			t.Errorf("%v", err)
		}
		for _, prof := range profiles {
			if _, _, err := LoadProfile(prof); err != nil {
				t.Errorf("%v", err)
			}
			_, warns, err := NewPlan(img, prof, "testdata/hostroot")
			if err != nil || len(warns) > 0 {
				t.Errorf("%s + %s: warnings %v, error %v", img, prof, warns, err)
			}
		}
	}
}
