package config

import (
	_ "embed"
	"strings"
	"testing"
)

var (
	//go:embed testdata/v3_0.ign
	v30 []byte
	//go:embed testdata/v3_3.ign
	v33 []byte
	//go:embed testdata/v3_6.ign
	v36 []byte
	//go:embed testdata/unsupported.ign
	unsupported []byte
)

func TestParseSpecVersions(t *testing.T) {
	tests := []struct {
		name  string
		raw   []byte
		check func(t *testing.T, c Config)
	}{
		{"3.0", v30, func(t *testing.T, c Config) {
			if len(c.Passwd.Users) != 1 || len(c.Storage.Files) != 1 || len(c.Systemd.Units) != 1 {
				t.Fatalf("config = %+v", c)
			}
		}},
		{"3.3", v33, func(t *testing.T, c Config) {
			if *c.Passwd.Groups[0].Gid != 1500 || *c.Storage.Directories[0].Mode != 0o700 || !*c.Systemd.Units[0].Mask {
				t.Fatalf("config = %+v", c)
			}
		}},
		{"3.6", v36, func(t *testing.T, c Config) {
			if !*c.Passwd.Users[0].System || len(c.Storage.Files[0].Append) != 1 {
				t.Fatalf("config = %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rep := Parse(tt.raw)
			if err := rep.Err(); err != nil {
				t.Fatal(err)
			}
			if c.Ignition.Version != "3.6.0" {
				t.Fatalf("not translated up: version %s", c.Ignition.Version)
			}
			tt.check(t, c)
		})
	}
}

func TestUnsupportedNamesPaths(t *testing.T) {
	_, rep := Parse(unsupported)
	want := []string{
		"$.ignition.config.merge[0].source",
		"$.kernelArguments.shouldExist",
		"$.storage.disks",
		"$.storage.raid",
		"$.storage.filesystems",
		"$.storage.luks",
		"$.storage.files[3].contents.source",
		"$.storage.files[4].append[1].source",
		"$.passwd.groups[0].passwordHash",
		"$.passwd.users[0].passwordHash",
	}
	got := map[string]string{}
	for _, p := range rep.Errors {
		got[p.Path] = p.Message
	}
	for _, w := range want {
		msg, ok := got[w]
		if !ok {
			t.Errorf("no error at %s; errors: %v", w, rep.Errors)
			continue
		}
		if !strings.Contains(msg, "not supported by mantlet-firstboot") {
			t.Errorf("%s: message %q", w, msg)
		}
	}
	if len(rep.Errors) != len(want) {
		t.Errorf("%d errors, want %d: %v", len(rep.Errors), len(want), rep.Errors)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "and 9 more") {
		t.Errorf("Err() = %v", err)
	}
	for _, p := range rep.Errors {
		if strings.Contains(p.String(), "$6$") || strings.Contains(p.String(), "example.com") {
			t.Errorf("problem quotes the config: %s", p)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, raw, path, msg string
	}{
		{"empty", "", "$", "empty"},
		{"syntax", `{"ignition": {"version": "3.4.0"`, "$", ""},
		{"version", `{"ignition": {"version": "2.2.0"}}`, "$.ignition.version", "version"},
		{"future", `{"ignition": {"version": "9.0.0"}}`, "$.ignition.version", "version"},
		{"bad mode", `{"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/x", "mode": 99999}]}}`, "$.storage.files[0].mode", ""},
		{"relative path", `{"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "x"}]}}`, "$.storage.files[0].path", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rep := Parse([]byte(tt.raw))
			if len(rep.Errors) == 0 {
				t.Fatal("no error")
			}
			p := rep.Errors[0]
			if p.Path != tt.path || !strings.Contains(p.Message, tt.msg) {
				t.Fatalf("error = %s, want path %s and %q", p, tt.path, tt.msg)
			}
		})
	}
}

func TestWarningsKeptApart(t *testing.T) {
	raw := `{"ignition": {"version": "3.4.0", "timeouts": {"httpTotal": 5}}, "bogus": true}`
	_, rep := Parse([]byte(raw))
	if len(rep.Errors) != 0 || len(rep.Warnings) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	if rep.Warnings[0].Path != "$.bogus" || rep.Warnings[0].Line != 1 {
		t.Errorf("warning = %+v", rep.Warnings[0])
	}
}

func TestPath(t *testing.T) {
	if got := Path("storage", "files", 3, "contents", "source"); got != "$.storage.files[3].contents.source" {
		t.Fatal(got)
	}
	if got := Path(); got != "$" {
		t.Fatal(got)
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range [][]byte{v30, v33, v36, unsupported} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, rep := Parse(raw)
		for _, p := range append(rep.Errors, rep.Warnings...) {
			if !strings.HasPrefix(p.Path, "$") {
				t.Fatalf("problem without a JSON path: %+v", p)
			}
		}
		if len(rep.Errors) == 0 && c.Ignition.Version != "3.6.0" {
			t.Fatalf("accepted config at version %q", c.Ignition.Version)
		}
	})
}
