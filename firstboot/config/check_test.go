package config

import (
	"strings"
	"testing"
)

// TestInvalidValues: values Ignition's validation lets through but that cannot be applied
// are errors with their JSON path, all of them at once.
func TestInvalidValues(t *testing.T) {
	raw := `{"ignition":{"version":"3.6.0"},
	  "passwd":{"groups":[{"name":"ops","gid":-1},{"name":"Big","gid":4294967295},{"name":"ok","gid":4294967294}],
	    "users":[{"name":"a","uid":-5,"homeDir":"/home/../etc","shell":"bin/sh","gecos":"x:y","primaryGroup":"Bad","groups":["ok","NO"]},
	             {"name":"b","homeDir":"relative","shell":"/bin/sh\nroot"},{"name":"c","uid":0,"homeDir":"/a:b"}]},
	  "storage":{"files":[{"path":"/f","user":{"id":-1},"group":{"id":4294967296}}],"directories":[{"path":"/d","user":{"id":7},"group":{"id":-3}}],
	    "links":[{"path":"/l","target":"/x","user":{"id":-9}}]}}`
	_, rep := Parse([]byte(raw))
	var got []string
	for _, p := range rep.Errors {
		got = append(got, p.Path+": "+p.Message)
	}
	want := []string{
		"$.passwd.groups[0].gid: must be between 0 and 4294967294",
		"$.passwd.groups[1].name: not a valid group name",
		"$.passwd.groups[1].gid: must be between 0 and 4294967294",
		"$.passwd.users[0].uid: must be between 0 and 4294967294",
		`$.passwd.users[0].homeDir: must not contain ".."`,
		"$.passwd.users[0].shell: must be an absolute path",
		"$.passwd.users[0].gecos: must not contain ':'",
		"$.passwd.users[0].primaryGroup: not a valid group name",
		"$.passwd.users[0].groups[1]: not a valid group name",
		"$.passwd.users[1].homeDir: must be an absolute path",
		"$.passwd.users[1].shell: must not contain ':' or a line break",
		"$.passwd.users[2].homeDir: must not contain ':'",
		"$.storage.directories[0].group.id: must be between 0 and 4294967294",
		"$.storage.files[0].user.id: must be between 0 and 4294967294",
		"$.storage.files[0].group.id: must be between 0 and 4294967294",
		"$.storage.links[0].user.id: must be between 0 and 4294967294",
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing %q in\n%s", w, joined)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(got), len(want), joined)
	}
}
