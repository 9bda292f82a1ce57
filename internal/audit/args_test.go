package audit

import (
	"slices"
	"testing"
)

func TestArgs(t *testing.T) {
	for _, tc := range []struct {
		got, want []string
	}{
		{oscapArgs("/w/ro", "prof", "/w/ds.xml", "/r/res.xml", "/r/rep.html"),
			[]string{"/w/ro", "xccdf", "eval", "--profile", "prof", "--results", "/r/res.xml", "--report", "/r/rep.html", "/w/ds.xml"}},
		{unsquashfsArgs("/w/root", "/w/root.squashfs"), []string{"-no-progress", "-quiet", "-d", "/w/root", "/w/root.squashfs"}},
		{sshdArgs("/w/root", "/run/k/host_key"), []string{"/w/root", "/usr/sbin/sshd", "-T", "-h", "/run/k/host_key"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
