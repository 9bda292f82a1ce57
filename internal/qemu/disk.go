package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mantlet/mantlet/internal/command"
)

// ImageInfo is what the harness needs from `qemu-img info --output=json`.
type ImageInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
}

// FormatFromExt names the disk format an image's extension implies, "" when it implies none.
func FormatFromExt(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".qcow2":
		return "qcow2"
	case ".raw", ".img":
		return "raw"
	}
	return ""
}

// InfoArgs builds the qemu-img arguments that describe image. A known format is passed with
// -f so that qemu-img does not guess it from the content.
func InfoArgs(image, format string) []string {
	args := []string{"info", "--output=json"}
	if format != "" {
		args = append(args, "-f", format)
	}
	return append(args, image)
}

// OverlayArgs builds the qemu-img arguments that create a qcow2 overlay of size bytes on the
// backing image base (an absolute path) of format baseFormat.
func OverlayArgs(base, baseFormat, overlay string, size int64) []string {
	return []string{"create", "-f", "qcow2", "-F", baseFormat, "-b", base, overlay, strconv.FormatInt(size, 10)}
}

// ParseImageInfo reads the JSON of qemu-img info.
func ParseImageInfo(out []byte) (ImageInfo, error) {
	var info ImageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return ImageInfo{}, fmt.Errorf("parse qemu-img info: %w", err)
	}
	if info.Format == "" || info.VirtualSize <= 0 {
		return ImageInfo{}, fmt.Errorf("parse qemu-img info: no format or virtual size in %q", truncate(string(out), 200))
	}
	return info, nil
}

// Inspect runs qemu-img info on image.
func Inspect(ctx context.Context, r command.Runner, image string) (ImageInfo, error) {
	out, err := r.Run(ctx, command.Cmd{Name: "qemu-img", Args: InfoArgs(image, FormatFromExt(image))})
	if err != nil {
		return ImageInfo{}, fmt.Errorf("inspect %s: %w", image, err)
	}
	return ParseImageInfo(out)
}

// disk is the drive the VM boots.
type disk struct {
	path      string
	format    string
	throwaway bool
}

// prepareDisk returns the image itself (Persist) or creates a qcow2 overlay on it in dir.
func prepareDisk(ctx context.Context, r command.Runner, o Options, dir string) (disk, error) {
	image, err := filepath.Abs(o.Image)
	if err != nil {
		return disk{}, fmt.Errorf("image: %w", err)
	}
	if o.Persist {
		if f := FormatFromExt(image); f != "" {
			return disk{path: image, format: f, throwaway: o.Scratch}, nil
		}
	}
	info, err := Inspect(ctx, r, image)
	if err != nil {
		return disk{}, err
	}
	if info.Format != "qcow2" && info.Format != "raw" {
		return disk{}, fmt.Errorf("image %s: format %s not supported (want qcow2 or raw)", image, info.Format)
	}
	if o.Persist {
		return disk{path: image, format: info.Format, throwaway: o.Scratch}, nil
	}
	size := o.DiskSize
	if size == 0 {
		size = info.VirtualSize + DefaultExtraDisk
	}
	if size < info.VirtualSize {
		return disk{}, fmt.Errorf("disk size %d is smaller than the image's virtual size %d", size, info.VirtualSize)
	}
	overlay := filepath.Join(dir, "overlay.qcow2")
	if _, err := r.Run(ctx, command.Cmd{Name: "qemu-img", Args: OverlayArgs(image, info.Format, overlay, size)}); err != nil {
		return disk{}, fmt.Errorf("create overlay: %w", err)
	}
	return disk{path: overlay, format: "qcow2", throwaway: true}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
