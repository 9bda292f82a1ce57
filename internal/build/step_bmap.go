package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"

	"github.com/mantlet/mantlet/internal/bmap"
)

// stepBmap writes the raw disk's block map (NAME.raw.bmap, bmaptool's format) while the other
// formats are converted: the ranges of 4 KiB blocks that hold data and the sha256 of each.
// It reads the data only (holes are skipped), so a 2.7 GiB disk with 300 MiB of data costs
// 300 MiB of hashing, and it pins the raw disk in the manifest in place of a whole-file sha256.
type stepBmap struct{}

func (*stepBmap) Name() string { return "bmap" }

func (*stepBmap) Run(_ context.Context, st *State) error {
	if !slices.Contains(st.Plan.Formats, "raw") {
		return nil
	}
	m, err := bmap.Compute(st.RawDisk)
	if err != nil {
		return err
	}
	st.Bmap = filepath.Join(st.WorkDir, st.Plan.Name+".raw.bmap")
	return writeFile(st.Bmap, m.Marshal(st.Plan.Name+".raw"), 0o644)
}

func (*stepBmap) Cleanup(*State) {}

// bytesSHA256 is the hex sha256 of data.
func bytesSHA256(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// rawOutput fills in the raw output's size and block map.
func rawOutput(o *Output, bmapFile string) error {
	fi, err := os.Stat(o.File)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(bmapFile)
	if err != nil {
		return err
	}
	o.Size, o.SHA256, o.Bmap, o.BmapSHA256 = fi.Size(), "", filepath.Base(bmapFile), bytesSHA256(data)
	return nil
}
