package build

import (
	"reflect"
	"testing"
)

func TestTar2sqfsArgs(t *testing.T) {
	p := testPlan()
	want := []string{"--quiet", "--force", "--compressor", "zstd", "--comp-extra", "level=9", "--num-jobs", "2",
		"--defaults", "uid=0,gid=0,mode=0755,mtime=1735689600", "/w/root.squashfs"}
	if got := tar2sqfsArgs(p, 2, "/w/root.squashfs"); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	p.Compression = "xz"
	got := tar2sqfsArgs(p, 0, "/o")
	if got[3] != "xz" || got[4] != "--num-jobs" || got[5] != "1" {
		t.Fatalf("xz, no level, at least one job: %q", got)
	}
}
