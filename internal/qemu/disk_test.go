package qemu

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/command"
)

func TestFormatFromExt(t *testing.T) {
	for path, want := range map[string]string{
		"out/node.qcow2": "qcow2", "out/NODE.QCOW2": "qcow2", "node.raw": "raw", "disk.img": "raw",
		"node.vmdk": "", "node": "",
	} {
		if got := FormatFromExt(path); got != want {
			t.Errorf("FormatFromExt(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestQemuImgArgs(t *testing.T) {
	tests := []struct {
		name string
		got  []string
		want string
	}{
		{"info with known format", InfoArgs("/img/a.qcow2", "qcow2"), "info --output=json -f qcow2 /img/a.qcow2"},
		{"info probes an unknown format", InfoArgs("/img/a.disk", ""), "info --output=json /img/a.disk"},
		{"overlay", OverlayArgs("/img/a.raw", "raw", "/tmp/m/overlay.qcow2", 6<<30), "create -f qcow2 -F raw -b /img/a.raw /tmp/m/overlay.qcow2 6442450944"},
	}
	for _, tt := range tests {
		if got := strings.Join(tt.got, " "); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseImageInfo(t *testing.T) {
	out := []byte(`{"virtual-size": 2147483648, "filename": "node.qcow2", "cluster-size": 65536,
		"format": "qcow2", "actual-size": 532680704, "dirty-flag": false}`)
	info, err := ParseImageInfo(out)
	if err != nil || info != (ImageInfo{Format: "qcow2", VirtualSize: 2 << 30}) {
		t.Fatalf("ParseImageInfo = %+v, %v", info, err)
	}
	if _, err := ParseImageInfo([]byte(`{}`)); err == nil {
		t.Error("ParseImageInfo({}) succeeded")
	}
	if _, err := ParseImageInfo([]byte(`qemu-img: oops`)); err == nil {
		t.Error("ParseImageInfo(garbage) succeeded")
	}
}

func TestPrepareDisk(t *testing.T) {
	const gib = int64(1) << 30
	info := func(format string, size int64) func(command.Cmd) ([]byte, error) {
		return func(c command.Cmd) ([]byte, error) {
			if c.Args[0] == "info" {
				return []byte(`{"format":"` + format + `","virtual-size":` + strconv.FormatInt(size, 10) + `}`), nil
			}
			return nil, nil
		}
	}
	tests := []struct {
		name      string
		image     string
		opts      Options
		respond   func(command.Cmd) ([]byte, error)
		wantCalls []string // "qemu-img ARGS", with DIR for the temporary directory
		want      disk
		wantErr   string
	}{
		{
			name: "default overlay adds 4 GiB", image: "/img/node.qcow2", respond: info("qcow2", 2*gib),
			wantCalls: []string{
				"qemu-img info --output=json -f qcow2 /img/node.qcow2",
				"qemu-img create -f qcow2 -F qcow2 -b /img/node.qcow2 DIR/overlay.qcow2 6442450944",
			},
			want: disk{path: "DIR/overlay.qcow2", format: "qcow2", throwaway: true},
		},
		{
			name: "explicit size on a probed raw image", image: "/img/node.disk", opts: Options{DiskSize: 20 * gib}, respond: info("raw", 2*gib),
			wantCalls: []string{
				"qemu-img info --output=json /img/node.disk",
				"qemu-img create -f qcow2 -F raw -b /img/node.disk DIR/overlay.qcow2 21474836480",
			},
			want: disk{path: "DIR/overlay.qcow2", format: "qcow2", throwaway: true},
		},
		{
			name: "size smaller than the image", image: "/img/node.raw", opts: Options{DiskSize: gib}, respond: info("raw", 2*gib),
			wantCalls: []string{"qemu-img info --output=json -f raw /img/node.raw"},
			wantErr:   "smaller than the image",
		},
		{
			name: "persist with a known extension runs nothing", image: "/img/node.raw", opts: Options{Persist: true},
			want: disk{path: "/img/node.raw", format: "raw"},
		},
		{
			name: "persist probes an unknown extension", image: "/img/node.disk", opts: Options{Persist: true}, respond: info("qcow2", gib),
			wantCalls: []string{"qemu-img info --output=json /img/node.disk"},
			want:      disk{path: "/img/node.disk", format: "qcow2"},
		},
		{
			name: "unsupported format", image: "/img/node.vmdk", respond: info("vmdk", gib),
			wantCalls: []string{"qemu-img info --output=json /img/node.vmdk"},
			wantErr:   "format vmdk not supported",
		},
		{
			name: "qemu-img fails", image: "/img/node.qcow2",
			respond:   func(command.Cmd) ([]byte, error) { return nil, errors.New("exit status 1") },
			wantCalls: []string{"qemu-img info --output=json -f qcow2 /img/node.qcow2"},
			wantErr:   "inspect /img/node.qcow2: exit status 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := &command.Recorder{Respond: tt.respond}
			o := tt.opts
			o.Image = tt.image
			got, err := prepareDisk(context.Background(), rec, o, dir)
			var calls []string
			for _, c := range rec.Calls {
				calls = append(calls, strings.ReplaceAll(c.String(), dir, "DIR"))
			}
			if !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("calls = %q\nwant %q", calls, tt.wantCalls)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.path = strings.Replace(got.path, dir, "DIR", 1)
			if got != tt.want {
				t.Errorf("disk = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPrepareDiskMakesTheImagePathAbsolute(t *testing.T) {
	rec := &command.Recorder{}
	got, err := prepareDisk(context.Background(), rec, Options{Image: "out/node.qcow2", Persist: true}, t.TempDir())
	if err != nil || !filepath.IsAbs(got.path) {
		t.Fatalf("disk = %+v, %v; want an absolute path", got, err)
	}
}
