package version

import "testing"

func TestInfoPrefersTheLinkerStamp(t *testing.T) {
	Version, Commit = "v1.2.3", "0123abc"
	defer func() { Version, Commit = "", "" }()
	if v, c := Info(); v != "v1.2.3" || c != "0123abc" {
		t.Fatalf("got %s %s", v, c)
	}
	if s := String(); s != "v1.2.3 (commit 0123abc)" {
		t.Fatalf("got %q", s)
	}
}

func TestInfoNeverEmpty(t *testing.T) {
	if v, c := Info(); v == "" || c == "" {
		t.Fatalf("got %q %q", v, c)
	}
}
