package accounts

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mantlet/mantlet/firstboot/rootfs"
)

func TestParsePasswd(t *testing.T) {
	tests := []struct {
		in      string
		want    []User
		wantErr bool
	}{
		{"", nil, false},
		{"root:x:0:0:root:/root:/bin/bash\n# comment\n\n+nis\ncore:x:1000:1000:Core,,,:/home/core:/bin/sh",
			[]User{{"root", 0, 0, "root", "/root", "/bin/bash"}, {"core", 1000, 1000, "Core,,,", "/home/core", "/bin/sh"}}, false},
		{"root:x:0:0:root:/root\n", nil, true},
		{"root:x:zero:0:root:/root:/bin/sh\n", nil, true},
		{"root:x:-1:0:root:/root:/bin/sh\n", nil, true},
	}
	for _, tt := range tests {
		got, err := ParsePasswd([]byte(tt.in))
		if (err != nil) != tt.wantErr || (!tt.wantErr && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("ParsePasswd(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestParseGroup(t *testing.T) {
	got, err := ParseGroup([]byte("root:x:0:\nops:x:1500:core,svc\n"))
	want := []Group{{"root", 0, nil}, {"ops", 1500, []string{"core", "svc"}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := ParseGroup([]byte("ops:x:1500\n")); err == nil {
		t.Fatal("no error for a short line")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	fsys, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	db, err := Load(fsys)
	if err != nil || len(db.Users) != 0 {
		t.Fatalf("empty root: %v, %v", db, err)
	}
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("core:x:1000:1000::/home/core:/bin/bash\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "etc/group"), []byte("core:x:1000:\n"), 0o644)
	db, err = Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if uid, ok := db.UID("core"); !ok || uid != 1000 {
		t.Fatalf("UID(core) = %d, %v", uid, ok)
	}
	if gid, ok := db.GID("core"); !ok || gid != 1000 {
		t.Fatalf("GID(core) = %d, %v", gid, ok)
	}
	if _, ok := db.UID("nobody"); ok {
		t.Fatal("found nobody")
	}
}

func TestDefs(t *testing.T) {
	d := ParseDefs([]byte("# comment\nUSERGROUPS_ENAB\tYes\nUMASK\t\t027\nENV_PATH \"PATH=/bin\"\n\n"))
	if !d.UserGroups() || d["ENV_PATH"] != "PATH=/bin" || d.HomeMode() != 0o750 {
		t.Fatalf("defs %v: usergroups %v, home mode %v", d, d.UserGroups(), d.HomeMode())
	}
	for in, want := range map[string]fs.FileMode{"": 0o755, "HOME_MODE 0700\nUMASK 077": 0o700, "UMASK 077": 0o700, "HOME_MODE bad": 0o755, "HOME_MODE 01777": 0o755} {
		if got := ParseDefs([]byte(in)).HomeMode(); got != want {
			t.Errorf("%q: home mode %v, want %v", in, got, want)
		}
	}
	if ParseDefs([]byte("USERGROUPS_ENAB no")).UserGroups() || ParseDefs(nil).UserGroups() {
		t.Error("user groups without USERGROUPS_ENAB yes")
	}
}
