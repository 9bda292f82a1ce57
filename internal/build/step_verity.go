package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
)

// Verity describes the dm-verity hash tree of the root image.
type Verity struct {
	RootHash     string `json:"root_hash"`
	Salt         string `json:"salt"`
	UUID         string `json:"uuid"`
	DataPartUUID string `json:"data_partuuid"` // first 128 bits of the root hash (DPS convention)
	HashPartUUID string `json:"hash_partuuid"` // last 128 bits
	DataSize     int64  `json:"data_size"`
	HashSize     int64  `json:"hash_size"`
}

// stepVerity computes the dm-verity hash tree of the root image with veritysetup. The salt and
// the superblock UUID derive from the image's own digest, so the same root gives the same root
// hash, and the partition UUIDs derive from the root hash, as the Discoverable Partitions
// Specification suggests: whoever knows the root hash finds the partitions.
type stepVerity struct{}

func (*stepVerity) Name() string { return "verity" }

func (*stepVerity) Run(ctx context.Context, st *State) error {
	digest, size, err := fileSHA256(st.RootImage)
	if err != nil {
		return err
	}
	if size%4096 != 0 {
		return fmt.Errorf("root image size %d is not a multiple of 4096", size)
	}
	salt := sha256.Sum256([]byte("mantlet verity salt\x00" + digest))
	uuidSrc := sha256.Sum256([]byte("mantlet verity uuid\x00" + digest))
	v := Verity{Salt: hex.EncodeToString(salt[:]), UUID: uuidFromBytes(uuidSrc[:16]), DataSize: size}
	hashImg := filepath.Join(st.WorkDir, "root.verity")
	hashFile := filepath.Join(st.WorkDir, "root.roothash")
	if _, err := st.Opts.Runner.Run(ctx, command.Cmd{Name: "veritysetup", Args: veritysetupFormatArgs(st.RootImage, hashImg, hashFile, v.Salt, v.UUID)}); err != nil {
		return err
	}
	b, err := os.ReadFile(hashFile)
	if err != nil {
		return fmt.Errorf("veritysetup root hash: %w", err)
	}
	if v.RootHash, err = parseRootHash(b); err != nil {
		return err
	}
	fi, err := os.Stat(hashImg)
	if err != nil {
		return err
	}
	if fi.Size() > st.Plan.VeritySize {
		return fmt.Errorf("verity hash data is %d bytes, more than disk.verity_size (%d)", fi.Size(), st.Plan.VeritySize)
	}
	v.HashSize = fi.Size()
	h, _ := hex.DecodeString(v.RootHash)
	v.DataPartUUID, v.HashPartUUID = uuidFromBytes(h[:16]), uuidFromBytes(h[16:32])
	st.Verity, st.HashImage, st.RootDigest = v, hashImg, digest
	return nil
}

func (*stepVerity) Cleanup(*State) {}

// veritysetupFormatArgs builds veritysetup's argument list. Pure: table-tested. The root
// hash is read from --root-hash-file, which holds nothing but it, not from the report
// veritysetup prints for people.
func veritysetupFormatArgs(data, hash, rootHashFile, salt, uuid string) []string {
	return []string{"format", "--hash=sha256", "--data-block-size=4096", "--hash-block-size=4096",
		"--salt=" + salt, "--uuid=" + uuid, "--root-hash-file=" + rootHashFile, data, hash}
}

var rootHashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parseRootHash reads the root hash from the --root-hash-file: 64 hex digits (sha256),
// with or without a final newline.
func parseRootHash(b []byte) (string, error) {
	h := strings.TrimSuffix(string(b), "\n")
	if !rootHashRE.MatchString(h) {
		return "", fmt.Errorf("veritysetup wrote no sha256 root hash to its root hash file")
	}
	return h, nil
}

// uuidFromBytes formats 16 bytes as a UUID string, as they are (no version bits set).
func uuidFromBytes(b []byte) string {
	h := hex.EncodeToString(b[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
