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

// TestOwnProblemsHaveLineAndColumn: the agent's own problems (what it does not implement,
// values it refuses) carry the line and column of their place in the config, as Ignition's do,
// also for a config of an older spec.
func TestOwnProblemsHaveLineAndColumn(t *testing.T) {
	raw := `{
  "ignition": {"version": "3.2.0"},
  "passwd": {
    "users": [
      {"name": "core"},
      {"name": "bad", "uid": -1,
       "passwordHash": "$6$x"}
    ]
  },
  "storage": {
    "disks": [{"device": "/dev/vdb"}]
  }
}`
	_, rep := Parse([]byte(raw))
	got := map[string][2]int{}
	for _, p := range rep.Errors {
		got[p.Path] = [2]int{p.Line, p.Column}
	}
	for path, want := range map[string][2]int{
		"$.passwd.users[1].uid":          {6, 30},
		"$.passwd.users[1].passwordHash": {7, 24},
		"$.storage.disks":                {11, 15},
	} {
		if got[path] != want {
			t.Errorf("%s at line %d col %d, want %v (all: %v)", path, got[path][0], got[path][1], want, rep.Errors)
		}
	}
}
