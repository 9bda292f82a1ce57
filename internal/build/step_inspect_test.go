package build

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/internal/treecheck"
)

func TestInspectError(t *testing.T) {
	if err := inspectError(nil); err != nil {
		t.Errorf("no findings: %v", err)
	}
	var fs []treecheck.Finding
	for i := range maxShown + 5 {
		fs = append(fs, treecheck.Finding{Path: fmt.Sprintf("/srv/f%02d", i), Msg: "world-writable (-rw-rw-rw-)"})
	}
	err := inspectError(fs)
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{"25 problem(s)", "profile's files (mode, owner)", "/srv/f00: world-writable", "/srv/f19", "... and 5 more"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "/srv/f20") {
		t.Errorf("error lists more than %d findings:\n%s", maxShown, msg)
	}
}
