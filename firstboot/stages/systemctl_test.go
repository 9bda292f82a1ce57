package stages

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// links lists the symlinks under dir as "path -> target", sorted.
func links(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel+" -> "+target)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestEnableLinksMatchSystemctl: the agent enables units without systemctl (its writes must
// go through the apply's transaction, and it runs before systemd knows the new units), so
// its links are compared with those of the real systemctl --root on the same trees.
func TestEnableLinksMatchSystemctl(t *testing.T) {
	if _, err := exec.LookPath("systemctl"); err != nil {
		t.Skip("systemctl not installed: the agent's enable links are compared with it")
	}
	vendor := map[string]string{
		"app.service":      installed,
		"helper.socket":    helper,
		"getty@.service":   getty,
		"needed.service":   "[Service]\nExecStart=/bin/true\n[Install]\nRequiredBy=a.target b.target\n",
		"cont.service":     "[Service]\nExecStart=/bin/true\n[Install]\n# a comment\nWantedBy=a.target \\\n  b.target\nWantedBy=c.target\n",
		"reset.service":    "[Install]\nWantedBy=x.target\nWantedBy=\nWantedBy=y.target\n",
		"chain.service":    "[Service]\nExecStart=/bin/true\n[Install]\nAlso=app.service chained.timer\n",
		"chained.timer":    "[Timer]\nOnCalendar=daily\n[Install]\nWantedBy=timers.target\nAlias=daily-chained.timer\n",
		"serial@.service":  "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
		"aliased@.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nDefaultInstance=one\n",
	}
	for _, tc := range []struct {
		name   string
		enable []string
		etc    map[string]string // unit files the config writes to /etc/systemd/system
	}{
		{name: "wanted, alias, also", enable: []string{"app.service"}},
		{name: "template, default and given instance", enable: []string{"getty@.service", "getty@ttyS0.service", "serial@ttyS1.service", "aliased@.service"}},
		{name: "required by", enable: []string{"needed.service"}},
		{name: "continuation, comment, reset", enable: []string{"cont.service", "reset.service"}},
		{name: "also chain", enable: []string{"chain.service"}},
		{name: "unit of the config in /etc", enable: []string{"mine.service"}, etc: map[string]string{"mine.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=my.service\n"}},
		{name: "config unit hides the vendor one", enable: []string{"app.service"}, etc: map[string]string{"app.service": "[Service]\nExecStart=/bin/false\n[Install]\nWantedBy=graphical.target\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"lib": "-> usr/lib"}
			for n, c := range vendor {
				files["usr/lib/systemd/system/"+n] = c
			}
			env, _ := newEnv(t, with(baseFiles, files))
			ref, _ := newEnv(t, with(baseFiles, files))
			var units []string
			for _, n := range tc.enable {
				u := fmt.Sprintf(`{"name":%q,"enabled":true`, n)
				if c, ok := tc.etc[n]; ok {
					u += fmt.Sprintf(`,"contents":%q`, c)
					os.MkdirAll(filepath.Join(ref.FS.Dir(), EtcUnitDir), 0o755)
					os.WriteFile(filepath.Join(ref.FS.Dir(), EtcUnitDir, n), []byte(c), 0o644)
				}
				units = append(units, u+"}")
			}
			cfg := parse(t, `{"ignition":{"version":"3.6.0"},"systemd":{"units":[`+strings.Join(units, ",")+`]}}`)
			if err := runStage(t, unitsStage{}, env, cfg); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("systemctl", append([]string{"--root=" + ref.FS.Dir(), "--quiet", "enable"}, tc.enable...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("systemctl enable: %v\n%s", err, out)
			}
			got, want := links(t, filepath.Join(env.FS.Dir(), "etc")), links(t, filepath.Join(ref.FS.Dir(), "etc"))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("the agent's links:\n%s\nsystemctl's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
