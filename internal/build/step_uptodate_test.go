package build

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mantlet/mantlet/internal/bmap"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/pipeline"
)

// fakeOutputs writes the outputs of a build and their manifest into a new directory.
func fakeOutputs(t *testing.T, inputs string) (string, *Manifest) {
	t.Helper()
	out := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(out, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	efi := write("node.efi", []byte("MZ uki"))
	qcow := write("node.qcow2", []byte("QFI\xfb qcow2"))
	raw := filepath.Join(out, "node.raw")
	f, _ := os.Create(raw)
	f.Truncate(8 << 20)
	f.WriteAt([]byte("EFI PART"), 512)
	f.WriteAt([]byte("hsqs root"), 2<<20)
	f.Close()
	m, err := bmap.Compute(raw)
	if err != nil {
		t.Fatal(err)
	}
	bm := m.Marshal("node.raw")
	write("node.raw.bmap", bm)
	uki, _ := artifact(efi)
	qa, _ := artifact(qcow)
	man := &Manifest{Name: "node", Inputs: inputs, UKI: uki, Verity: Verity{RootHash: "ab"}, Kernel: KernelInfo{Version: "6.1.0-28-amd64"},
		Packages: fakePackages, Outputs: []Output{
			{Format: "raw", File: "node.raw", Size: 8 << 20, Bmap: "node.raw.bmap", BmapSHA256: bytesSHA256(bm)},
			{Format: "qcow2", File: "node.qcow2", Size: qa.Size, SHA256: qa.SHA256}}}
	data, _ := json.Marshal(man)
	write("node.manifest.json", data)
	return out, man
}

func TestVerifyOutputs(t *testing.T) {
	out, m := fakeOutputs(t, "x")
	if err := VerifyOutputs(out, m); err != nil {
		t.Fatalf("intact outputs: %v", err)
	}
	for name, spoil := range map[string]func(){
		"raw data": func() {
			f, _ := os.OpenFile(filepath.Join(out, "node.raw"), os.O_RDWR, 0)
			f.WriteAt([]byte("X"), 2<<20)
			f.Close()
		},
		"raw hole": func() {
			f, _ := os.OpenFile(filepath.Join(out, "node.raw"), os.O_RDWR, 0)
			f.WriteAt([]byte("X"), 6<<20)
			f.Close()
		},
		"qcow2":      func() { os.WriteFile(filepath.Join(out, "node.qcow2"), []byte("QFI\xfb other"), 0o644) },
		"uki":        func() { os.Remove(filepath.Join(out, "node.efi")) },
		"block map":  func() { os.WriteFile(filepath.Join(out, "node.raw.bmap"), []byte("<bmap/>"), 0o644) },
		"raw length": func() { os.Truncate(filepath.Join(out, "node.raw"), 9<<20) },
	} {
		t.Run(name, func(t *testing.T) {
			out, m = fakeOutputs(t, "x")
			spoil()
			if err := VerifyOutputs(out, m); err == nil {
				t.Fatal("spoiled outputs verify")
			}
		})
	}
}

// The uptodate step stops the build only for the same inputs and intact outputs.
func TestUpToDate(t *testing.T) {
	fb := filepath.Join(t.TempDir(), "mantlet-firstboot")
	os.WriteFile(fb, []byte("agent"), 0o755)
	stub := filepath.Join(t.TempDir(), "stub")
	os.WriteFile(stub, []byte("stub"), 0o644)
	state := func(out string) *State {
		return &State{Plan: testPlan(), LayerKey: "k", Opts: Options{OutDir: out, FirstbootBinary: fb, Stub: stub, Runner: &command.Recorder{}}}
	}
	probe := state("")
	digest, err := inputsDigest(probe)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := fakeOutputs(t, digest)
	st := state(out)
	if err := (&stepUpToDate{}).Run(context.Background(), st); !errors.Is(err, pipeline.ErrStop) || !st.UpToDate {
		t.Fatalf("same inputs: %v, up to date %v", err, st.UpToDate)
	}
	if len(st.Outputs) != 2 || st.Outputs[0].File != filepath.Join(out, "node.raw") || st.Verity.RootHash != "ab" || st.KernelVersion != "6.1.0-28-amd64" {
		t.Fatalf("state from the manifest: %+v", st)
	}

	st = state(out)
	st.Opts.NoCache = true
	if err := (&stepUpToDate{}).Run(context.Background(), st); err != nil || st.UpToDate {
		t.Fatalf("--no-cache: %v, %v", err, st.UpToDate)
	}
	st = state(out)
	st.Plan.Files[0].Data = []byte("changed")
	if err := (&stepUpToDate{}).Run(context.Background(), st); err != nil || st.UpToDate {
		t.Fatalf("changed profile: %v, %v", err, st.UpToDate)
	}
	os.WriteFile(fb, []byte("another agent"), 0o755)
	st = state(out)
	if err := (&stepUpToDate{}).Run(context.Background(), st); err != nil || st.UpToDate {
		t.Fatalf("changed agent: %v, %v", err, st.UpToDate)
	}
}
