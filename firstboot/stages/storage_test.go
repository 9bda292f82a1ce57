package stages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStorageStage(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // the root before, besides baseFiles
		storage string
		want    map[string]string // path -> "mode contents" or "mode -> target"
		wantErr string
	}{
		{
			name:    "new file dir and links",
			storage: `{"directories":[{"path":"/var/lib/app","mode":448}],"files":[{"path":"/etc/app/conf","contents":{"source":"data:,a%3D1%0A"}}],"links":[{"path":"/etc/app/l","target":"conf"},{"path":"/etc/app/h","target":"/etc/app/conf","hard":true}]}`,
			want: map[string]string{"var/lib/app": "drwx------", "etc/app/conf": "-rw-r--r-- a=1\n",
				"etc/app/l": "Lrwxrwxrwx -> conf", "etc/app/h": "-rw-r--r-- a=1\n"},
		},
		{
			name:    "file exists with other contents",
			files:   map[string]string{"etc/app.conf": "old"},
			storage: `{"files":[{"path":"/etc/app.conf","contents":{"source":"data:,new"}}]}`,
			wantErr: "$.storage.files[0]: /etc/app.conf: exists and overwrite is not set (contents differ)",
		},
		{
			name:    "file exists with the same contents",
			files:   map[string]string{"etc/app.conf": "new"},
			storage: `{"files":[{"path":"/etc/app.conf","mode":384,"contents":{"source":"data:,new"}}]}`,
			want:    map[string]string{"etc/app.conf": "-rw------- new"},
		},
		{
			name:    "overwrite",
			files:   map[string]string{"etc/app.conf": "old"},
			storage: `{"files":[{"path":"/etc/app.conf","overwrite":true,"contents":{"source":"data:,new"}}]}`,
			want:    map[string]string{"etc/app.conf": "-rw-r--r-- new"},
		},
		{
			name:    "append keeps mode",
			files:   map[string]string{"etc/motd": "hi\n"},
			storage: `{"files":[{"path":"/etc/motd","append":[{"source":"data:,one%0A"},{"source":"data:,two%0A"}]}]}`,
			want:    map[string]string{"etc/motd": "-rw-r--r-- hi\none\ntwo\n"},
		},
		{
			name:    "contents and append",
			storage: `{"files":[{"path":"/etc/x","contents":{"source":"data:,a"},"append":[{"source":"data:,b"}]}]}`,
			want:    map[string]string{"etc/x": "-rw-r--r-- ab"},
		},
		{
			name:    "empty file",
			storage: `{"files":[{"path":"/etc/empty","mode":420}]}`,
			want:    map[string]string{"etc/empty": "-rw-r--r-- "},
		},
		{
			name:    "file through /home symlink",
			storage: `{"files":[{"path":"/home/core/notes","contents":{"source":"data:,x"}}]}`,
			want:    map[string]string{"var/home/core/notes": "-rw-r--r-- x"},
		},
		{
			name:    "directory where a file is",
			files:   map[string]string{"srv": "x"},
			storage: `{"directories":[{"path":"/srv"}]}`,
			wantErr: "$.storage.directories[0]: /srv: not a directory",
		},
		{
			name:    "directory overwrites a file",
			files:   map[string]string{"srv": "x"},
			storage: `{"directories":[{"path":"/srv","overwrite":true}]}`,
			want:    map[string]string{"srv": "drwxr-xr-x"},
		},
		{
			name:    "symlink exists and matches",
			files:   map[string]string{"etc/l": "-> /etc/x"},
			storage: `{"links":[{"path":"/etc/l","target":"/etc/x"}]}`,
			want:    map[string]string{"etc/l": "Lrwxrwxrwx -> /etc/x"},
		},
		{
			name:    "symlink exists and differs",
			files:   map[string]string{"etc/l": "-> /etc/y"},
			storage: `{"links":[{"path":"/etc/l","target":"/etc/x"}]}`,
			wantErr: "$.storage.links[0]: /etc/l: exists",
		},
		{
			name:    "escaping symlink stays inside",
			files:   map[string]string{"etc/evil": "-> ../../../../../../tmp"},
			storage: `{"files":[{"path":"/etc/evil/x","contents":{"source":"data:,x"}}]}`,
			want:    map[string]string{"tmp/x": "-rw-r--r-- x"},
		},
		{
			name:    "unknown owner",
			storage: `{"files":[{"path":"/etc/x","user":{"name":"nobody2"}}]}`,
			wantErr: "$.storage.files[0].user.name: no user nobody2",
		},
		{
			name:    "hash mismatch",
			storage: `{"files":[{"path":"/etc/x","contents":{"source":"data:,x","verification":{"hash":"sha256-0000000000000000000000000000000000000000000000000000000000000000"}}}]}`,
			wantErr: "$.storage.files[0].contents: hash mismatch (sha256)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := newEnv(t, with(baseFiles, tt.files))
			err := runStage(t, storageStage{}, env, parse(t, `{"ignition":{"version":"3.4.0"},"storage":`+tt.storage+`}`))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for p, want := range tt.want {
				if got := describe(t, filepath.Join(env.FS.Dir(), p)); got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
		})
	}
}

func describe(t *testing.T, p string) string {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		return err.Error()
	}
	s := fi.Mode().String()
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		s += " -> " + target
	case fi.Mode().IsRegular():
		b, _ := os.ReadFile(p)
		s += " " + string(b)
	}
	return s
}

func TestStorageOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	env, _ := newEnv(t, baseFiles)
	// 3.6: older specs have no setuid, setgid and sticky bits
	cfg := parse(t, `{"ignition":{"version":"3.6.0"},"storage":{
		"directories":[{"path":"/srv/svc","user":{"name":"svc"},"group":{"name":"adm"}}],
		"files":[{"path":"/srv/svc/a","user":{"id":1234},"group":{"id":4321},"mode":3565}],
		"links":[{"path":"/srv/svc/l","target":"a","user":{"name":"svc"}}]}}`)
	if err := runStage(t, storageStage{}, env, cfg); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string][2]int{"srv/svc": {998, 4}, "srv/svc/a": {1234, 4321}, "srv/svc/l": {998, 0}} {
		fi, err := os.Lstat(filepath.Join(env.FS.Dir(), p))
		if err != nil {
			t.Fatal(err)
		}
		uid, gid, _ := statOwner(fi)
		if uid != want[0] || gid != want[1] {
			t.Errorf("%s: owner %d:%d, want %d:%d", p, uid, gid, want[0], want[1])
		}
	}
	fi, _ := os.Stat(filepath.Join(env.FS.Dir(), "srv/svc/a"))
	if fi.Mode() != os.ModeSetuid|os.ModeSetgid|0o755 { // 3565 = 0o6755
		t.Errorf("mode %v", fi.Mode())
	}
}
