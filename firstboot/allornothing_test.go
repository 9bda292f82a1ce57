package firstboot

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/ignition/v2/config/v3_6/types"
	"github.com/mantlet/mantlet/firstboot/internal/fixture"
	"github.com/mantlet/mantlet/firstboot/stages"
	"github.com/mantlet/mantlet/internal/command"
)

// accountsRoot is an image-like root with real account databases and the image's own
// login.defs, for shadow's tools.
func accountsRoot(t *testing.T) string {
	t.Helper()
	root := newRoot(t)
	defs, err := os.ReadFile("../profiles/base/login.defs")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"etc/passwd":       "root:x:0:0:root:/root:/bin/bash\nsvc:x:998:998::/nonexistent:/usr/sbin/nologin\n",
		"etc/group":        "root:x:0:\nadm:x:4:\nsudo:x:27:\nusers:x:100:\nsvc:x:998:\n",
		"etc/shadow":       "root:*:19000:0:99999:7:::\nsvc:!:19000::::::\n",
		"etc/gshadow":      "root:*::\nadm:*::\nsudo:*::\nusers:*::\nsvc:!::\n",
		"etc/subuid":       "",
		"etc/subgid":       "",
		"etc/login.defs":   string(defs),
		"etc/motd":         "welcome\n",
		"etc/skel/.bashrc": "umask 027\n",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"etc/shadow", "etc/gshadow"} {
		os.Chmod(filepath.Join(root, f), 0o640)
		os.Chown(filepath.Join(root, f), 0, 42)
	}
	return root
}

// failingRunner runs commands for real but fails call number failAt (from 1); 0 never.
type failingRunner struct {
	failAt int
	calls  []string
}

func (r *failingRunner) Run(ctx context.Context, c command.Cmd) ([]byte, error) {
	r.calls = append(r.calls, c.Name)
	if len(r.calls) == r.failAt {
		return nil, &command.Error{Cmd: c.Name, Err: errors.New("exit status 1"), Stderr: c.Name + ": injected failure"}
	}
	return command.Exec{}.Run(ctx, c)
}

func needShadow(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("shadow's tools with --prefix and chown need root")
	}
	for _, tool := range []string{"useradd", "groupadd", "usermod"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian package passwd)", tool)
		}
	}
}

const (
	adminUser = `{"name":"core","groups":["sudo","ops"],"sshAuthorizedKeys":["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnPtvtqYsGQhxDUNL4SkCTF+MoSL8hKLKPRZ0bd4uXF core@test"]}`
	opsGroup  = `{"name":"ops","gid":1500}`
)

// TestApplyAllOrNothing applies configs that fail, some while they are checked, some
// halfway through writing (after shadow's tools have run and files are written), and
// checks that the whole tree (contents, modes, owners, link counts) is what it was.
func TestApplyAllOrNothing(t *testing.T) {
	needShadow(t)
	tests := []struct {
		name      string
		config    string // passwd, storage, systemd sections
		failAt    int    // fail this command (1-based), 0 for none
		setup     func(root string)
		want      string // in the error
		wroteSome bool   // the failure comes after shadow's tools ran
		retry     bool   // without the fault (setup, failAt), the config applies
	}{
		{name: "home with dot-dot", config: `"passwd":{"users":[{"name":"core","homeDir":"/home/../etc"}]}`,
			want: `$.passwd.users[0].homeDir: must not contain ".."`},
		{name: "negative uid", config: `"passwd":{"users":[{"name":"core","uid":-5}]}`,
			want: "$.passwd.users[0].uid: must be between 0 and 4294967294"},
		{name: "uid out of range", config: `"passwd":{"users":[{"name":"core","uid":4294967295}]}`,
			want: "$.passwd.users[0].uid: must be between 0 and 4294967294"},
		{name: "negative gid", config: `"passwd":{"groups":[{"name":"ops","gid":-1}]}`,
			want: "$.passwd.groups[0].gid: must be between 0 and 4294967294"},
		{name: "negative file owner", config: `"storage":{"files":[{"path":"/etc/x","user":{"id":-1},"contents":{"source":"data:,x"}}]}`,
			want: "$.storage.files[0].user.id: must be between 0 and 4294967294"},
		{name: "negative directory group", config: `"storage":{"directories":[{"path":"/srv/x","group":{"id":-2}}]}`,
			want: "$.storage.directories[0].group.id: must be between 0 and 4294967294"},
		{name: "shell with colon", config: `"passwd":{"users":[{"name":"core","shell":"/bin/sh:x"}]}`,
			want: "$.passwd.users[0].shell: must not contain ':'"},
		{name: "missing group", config: `"passwd":{"users":[{"name":"core","groups":["nope"]}]}`,
			want: "$.passwd.users[0].groups[0]: no group nope"},
		{name: "uid of another user", config: `"passwd":{"users":[{"name":"core","uid":998}]}`,
			want: "$.passwd.users[0].uid: uid 998 belongs to user svc already"},
		{name: "home below a file", config: `"passwd":{"groups":[` + opsGroup + `],"users":[{"name":"core","homeDir":"/etc/motd/core"}]}`,
			want: "home of core", wroteSome: true},
		{name: "second tool fails", config: `"passwd":{"groups":[` + opsGroup + `],"users":[` + adminUser + `]}`,
			failAt: 2, want: "$.passwd.users[0]: useradd: exit status 1: useradd: injected failure", wroteSome: true, retry: true},
		{name: "file in the way after users", config: `"passwd":{"groups":[` + opsGroup + `],"users":[` + adminUser + `]},
			"storage":{"files":[{"path":"/etc/new","contents":{"source":"data:,new"}},{"path":"/etc/motd","contents":{"source":"data:,other"}}]}`,
			want: "$.storage.files[1]: /etc/motd: exists and overwrite is not set", wroteSome: true},
		{name: "units after users, files, appends and links", config: `"passwd":{"groups":[` + opsGroup + `],"users":[` + adminUser + `]},
			"storage":{"directories":[{"path":"/etc/skel","mode":448}],
			  "files":[{"path":"/etc/motd","append":[{"source":"data:,more%0A"}]},{"path":"/etc/passwd-extra","overwrite":true,"mode":384,"contents":{"source":"data:,x"}},
			           {"path":"/home/core/.config/app.toml","user":{"name":"core"},"group":{"name":"core"},"contents":{"source":"data:,k%3Dv"}}],
			  "links":[{"path":"/etc/motd.hard","target":"/etc/motd","hard":true},{"path":"/etc/localtime","target":"/usr/share/zoneinfo/UTC"}]},
			"systemd":{"units":[{"name":"app.service","contents":"[Service]\nExecStart=/bin/true\n"}]}`,
			setup: func(root string) { os.WriteFile(filepath.Join(root, "etc/systemd"), []byte("in the way\n"), 0o644) },
			want:  "units: $.systemd.units[0]", wroteSome: true, retry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := accountsRoot(t)
			if tt.setup != nil {
				tt.setup(root)
			}
			before := state(t, root)
			r := &failingRunner{failAt: tt.failAt}
			var out bytes.Buffer
			cfg := `{"ignition":{"version":"3.6.0"},` + tt.config + `}`
			err := Apply(context.Background(), ApplyOptions{Root: root, Runner: r, Stdout: &out}, []byte(cfg))
			if err == nil || !strings.Contains(withoutPos(err.Error()), tt.want) {
				t.Fatalf("err = %v, want %q\n%s", err, tt.want, out.String())
			}
			if ran := len(r.calls) > 0; ran != tt.wroteSome {
				t.Fatalf("shadow's tools ran: %v (%v), want %v", ran, r.calls, tt.wroteSome)
			}
			if after := state(t, root); after != before {
				t.Fatalf("the tree changed:\n%s\nbefore:\n%s", after, before)
			}
			// the same root takes the config once the fault is gone
			if tt.retry {
				os.Remove(filepath.Join(root, "etc/systemd"))
				if err := Apply(context.Background(), ApplyOptions{Root: root, Runner: command.Exec{}, Stdout: &out}, []byte(cfg)); err != nil {
					t.Fatalf("without the fault: %v\n%s", err, out.String())
				}
				if state(t, root) == before {
					t.Fatal("without the fault the config changed nothing")
				}
			}
		})
	}
}

// withoutPos drops the " (line N col M)" after a JSON path.
func withoutPos(s string) string { return posRE.ReplaceAllString(s, "") }

var posRE = regexp.MustCompile(` \(line \d+ col \d+\)`)

func state(t *testing.T, root string) string {
	t.Helper()
	s, err := fixture.State(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestUserGroupsFollowLoginDefs: as Ignition, the agent leaves it to useradd and the root's
// login.defs (USERGROUPS_ENAB) whether a new user gets a group of its own name; the files
// stage knows which groups will exist by the same rule.
func TestUserGroupsFollowLoginDefs(t *testing.T) {
	needShadow(t)
	cfg := `{"ignition":{"version":"3.6.0"},"passwd":{"users":[{"name":"core"},{"name":"svc2","primaryGroup":"adm"},{"name":"solo","noUserGroup":true}]},
		"storage":{"files":[{"path":"/etc/core.conf","group":{"name":"core"},"contents":{"source":"data:,x"}}]}}`
	for _, enabled := range []bool{true, false} {
		t.Run(map[bool]string{true: "USERGROUPS_ENAB yes", false: "USERGROUPS_ENAB no"}[enabled], func(t *testing.T) {
			root := accountsRoot(t)
			defs := "USERGROUPS_ENAB yes\n"
			if !enabled {
				defs = "USERGROUPS_ENAB no\n"
			}
			os.WriteFile(filepath.Join(root, "etc/login.defs"), []byte(defs), 0o644)
			var out bytes.Buffer
			err := Apply(context.Background(), ApplyOptions{Root: root, Runner: command.Exec{}, Stdout: &out}, []byte(cfg))
			group, _ := os.ReadFile(filepath.Join(root, "etc/group"))
			passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
			if enabled {
				if err != nil {
					t.Fatalf("%v\n%s", err, out.String())
				}
				if !strings.Contains(string(group), "\ncore:x:1000:\n") || !strings.Contains(string(passwd), "\ncore:x:1000:1000:") {
					t.Fatalf("core has no group of its own:\n%s\n%s", group, passwd)
				}
			} else {
				// no group core will exist: the file's owner is refused before anything is written
				if err == nil || !strings.Contains(err.Error(), "$.storage.files[0].group.name: no group core") {
					t.Fatalf("err = %v\n%s", err, out.String())
				}
				cfg := strings.Replace(cfg, `"group":{"name":"core"},`, "", 1)
				if err := Apply(context.Background(), ApplyOptions{Root: root, Runner: command.Exec{}, Stdout: &out}, []byte(cfg)); err != nil {
					t.Fatalf("%v\n%s", err, out.String())
				}
				group, _ = os.ReadFile(filepath.Join(root, "etc/group"))
				passwd, _ = os.ReadFile(filepath.Join(root, "etc/passwd"))
				if strings.Contains(string(group), "core:") || !strings.Contains(string(passwd), "\ncore:x:1000:100:") {
					t.Fatalf("core got a group of its own, or not the default group 100:\n%s\n%s", group, passwd)
				}
			}
			for _, want := range []string{"\nsvc2:x:", "\nsolo:x:"} {
				if !strings.Contains(string(passwd), want) {
					t.Errorf("no %s in\n%s", strings.TrimSpace(want), passwd)
				}
			}
			if strings.Contains(string(group), "svc2:") || strings.Contains(string(group), "solo:") {
				t.Errorf("primaryGroup or noUserGroup made a group:\n%s", group)
			}
		})
	}
}

// powerCut is a stage between storage and units that, when armed, stops the process the
// way a power cut does: nothing after it runs, no deferred clean-up of the apply.
type powerCut struct{}

var (
	powerCutArmed bool
	errPowerCut   = errors.New("power cut")
)

func init() { stages.Register(25, powerCut{}) }

func (powerCut) Name() string { return "test-power-cut" }
func (powerCut) Prepare(context.Context, *stages.Env, types.Config) (stages.Action, error) {
	return func(context.Context) error {
		if powerCutArmed {
			panic(errPowerCut)
		}
		return nil
	}, nil
}

// TestRunAfterPowerCut stops a boot after the passwd and storage stages have written to the
// root (users made by shadow's tools, files, an append), then boots again: the second boot
// undoes the first one's changes from the undo log and applies the config, ending in the
// same tree as a boot that was never interrupted.
func TestRunAfterPowerCut(t *testing.T) {
	needShadow(t)
	cfg := []byte(`{"ignition":{"version":"3.6.0"},"passwd":{"groups":[` + opsGroup + `],"users":[` + adminUser + `]},
		"storage":{"files":[{"path":"/etc/motd","append":[{"source":"data:,more%0A"}]},{"path":"/home/core/app.toml","user":{"name":"core"},"contents":{"source":"data:,k%3Dv"}}]},
		"systemd":{"units":[{"name":"app.service","contents":"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n","enabled":true}]}}`)
	boot := func(m machine) (string, error) {
		var out bytes.Buffer
		err := Run(context.Background(), Options{Root: m.root, Cmdline: m.cmdline, Sysfs: m.sysfs, Hostname: "test",
			Runner: command.Exec{}, Stdout: &out, Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
		return out.String(), err
	}
	machineWith := func() machine {
		m := newMachine(t, "", cfg)
		m.root = accountsRoot(t)
		return m
	}
	// host keys differ on every machine: compared apart
	skip := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "etc/ssh") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}

	clean := machineWith()
	if out, err := boot(clean); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := skip(state(t, clean.root))

	cut := machineWith()
	before := state(t, cut.root)
	powerCutArmed = true
	func() {
		defer func() {
			if r := recover(); r != errPowerCut {
				panic(r)
			}
		}()
		boot(cut)
	}()
	powerCutArmed = false
	mid := state(t, cut.root)
	if !strings.Contains(mid, "var/lib/mantlet/firstboot/undo ") || !strings.Contains(mid, "var/home/core ") || mid == before {
		t.Fatalf("the cut came before the stages wrote:\n%s", mid)
	}
	out, err := boot(cut)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, line := range []string{"starting again: the previous attempt did not finish", "undid the changes of the interrupted attempt", "done"} {
		if !strings.Contains(out, "mantlet-firstboot: "+line+"\n") {
			t.Errorf("no %q on the console:\n%s", line, out)
		}
	}
	if got := skip(state(t, cut.root)); got != want {
		t.Fatalf("after the power cut and a second boot:\n%s\nan uninterrupted boot:\n%s", got, want)
	}
}
