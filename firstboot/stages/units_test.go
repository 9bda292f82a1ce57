package stages

import (
	"path/filepath"
	"strings"
	"testing"
)

const (
	installed = "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=alias.service\nAlso=helper.socket\n"
	helper    = "[Socket]\nListenStream=1\n[Install]\nWantedBy=sockets.target\n"
	getty     = "[Service]\nExecStart=/sbin/agetty\n[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n"
	static    = "[Service]\nExecStart=/bin/true\n"
)

var unitRoot = with(baseFiles, map[string]string{
	"usr/lib/systemd/system/app.service":    installed,
	"usr/lib/systemd/system/helper.socket":  helper,
	"usr/lib/systemd/system/getty@.service": getty,
	"usr/lib/systemd/system/static.service": static,
	"lib":                                   "-> usr/lib",
})

func TestUnitsStage(t *testing.T) {
	tests := []struct {
		name    string
		before  map[string]string
		units   string
		storage string
		want    map[string]string
		gone    []string
		wantErr string
	}{
		{
			name:  "enable from the image with alias and also",
			units: `[{"name":"app.service","enabled":true}]`,
			want: map[string]string{
				"etc/systemd/system/multi-user.target.wants/app.service": "Lrwxrwxrwx -> /lib/systemd/system/app.service",
				"etc/systemd/system/alias.service":                       "Lrwxrwxrwx -> /lib/systemd/system/app.service",
				"etc/systemd/system/sockets.target.wants/helper.socket":  "Lrwxrwxrwx -> /lib/systemd/system/helper.socket",
			},
		},
		{
			name:  "contents dropins and enable",
			units: `[{"name":"new.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n[Install]\nRequiredBy=x.target\n","dropins":[{"name":"10-a.conf","contents":"[Service]\nNice=5\n"}]}]`,
			want: map[string]string{
				"etc/systemd/system/new.service":                   "-rw-r--r-- [Service]\nExecStart=/bin/true\n[Install]\nRequiredBy=x.target\n",
				"etc/systemd/system/new.service.d/10-a.conf":       "-rw-r--r-- [Service]\nNice=5\n",
				"etc/systemd/system/x.target.requires/new.service": "Lrwxrwxrwx -> /etc/systemd/system/new.service",
			},
		},
		{
			name:    "unit file from storage",
			storage: `{"files":[{"path":"/etc/systemd/system/s.service","contents":{"source":"data:,%5BInstall%5D%0AWantedBy%3Dmulti-user.target%0A"}}]}`,
			units:   `[{"name":"s.service","enabled":true}]`,
			want:    map[string]string{"etc/systemd/system/multi-user.target.wants/s.service": "Lrwxrwxrwx -> /etc/systemd/system/s.service"},
		},
		{
			name:  "template instance and default instance",
			units: `[{"name":"getty@ttyS0.service","enabled":true},{"name":"getty@.service","enabled":true}]`,
			want: map[string]string{
				"etc/systemd/system/getty.target.wants/getty@ttyS0.service": "Lrwxrwxrwx -> /lib/systemd/system/getty@.service",
				"etc/systemd/system/getty.target.wants/getty@tty1.service":  "Lrwxrwxrwx -> /lib/systemd/system/getty@.service",
			},
		},
		{
			name: "disable",
			before: map[string]string{"etc/systemd/system/multi-user.target.wants/app.service": "-> /usr/lib/systemd/system/app.service",
				"etc/systemd/system/alias.service": "real file, not ours"},
			units: `[{"name":"app.service","enabled":false},{"name":"missing.service","enabled":false}]`,
			gone:  []string{"etc/systemd/system/multi-user.target.wants/app.service"},
			want:  map[string]string{"etc/systemd/system/alias.service": "-rw-r--r-- real file, not ours"},
		},
		{
			name:   "mask and unmask",
			before: map[string]string{"etc/systemd/system/old.service": "-> /dev/null"},
			units:  `[{"name":"app.service","mask":true},{"name":"old.service","mask":false}]`,
			want:   map[string]string{"etc/systemd/system/app.service": "Lrwxrwxrwx -> /dev/null"},
			gone:   []string{"etc/systemd/system/old.service"},
		},
		{
			name:    "missing unit",
			units:   `[{"name":"nope.service","enabled":true}]`,
			wantErr: "$.systemd.units[0].enabled: nope.service: unit file not found",
		},
		{
			name:    "static unit",
			units:   `[{"name":"static.service","enabled":true}]`,
			wantErr: "$.systemd.units[0].enabled: /lib/systemd/system/static.service: no [Install] section",
		},
		{
			name:    "mask with contents",
			units:   `[{"name":"x.service","mask":true,"contents":"[Service]\n"}]`,
			wantErr: "$.systemd.units[0].mask",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := newEnv(t, with(unitRoot, tt.before))
			storage := tt.storage
			if storage == "" {
				storage = "{}"
			}
			cfg := parse(t, `{"ignition":{"version":"3.4.0"},"storage":`+storage+`,"systemd":{"units":`+tt.units+`}}`)
			if tt.storage != "" {
				if err := runStage(t, storageStage{}, env, cfg); err != nil {
					t.Fatal(err)
				}
			}
			err := runStage(t, unitsStage{}, env, cfg)
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
			for _, p := range tt.gone {
				if got := describe(t, filepath.Join(env.FS.Dir(), p)); !strings.Contains(got, "no such file") {
					t.Errorf("%s still there: %s", p, got)
				}
			}
		})
	}
}
