package stages

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/coreos/ignition/v2/config/v3_6/types"
	"github.com/mantlet/mantlet/firstboot/accounts"
	"github.com/mantlet/mantlet/internal/command"
)

func ptr[T any](v T) *T { return &v }

func TestUseraddArgs(t *testing.T) {
	tests := []struct {
		name string
		u    types.PasswdUser
		want string
	}{
		{"minimal", types.PasswdUser{Name: "core"},
			"useradd --no-create-home --password * core"},
		{"everything", types.PasswdUser{Name: "core", UID: ptr(1001), Gecos: ptr("Core User"), HomeDir: ptr("/var/core"),
			PrimaryGroup: ptr("ops"), Groups: []types.Group{"adm", "sudo"}, Shell: ptr("/bin/bash"), System: ptr(true), NoLogInit: ptr(true)},
			"useradd --no-create-home --uid 1001 --comment Core User --home-dir /var/core --gid ops --groups adm,sudo --shell /bin/bash --system --no-log-init --password * core"},
		{"no user group", types.PasswdUser{Name: "svc", NoUserGroup: ptr(true)},
			"useradd --no-create-home --no-user-group --password * svc"},
	}
	for _, tt := range tests {
		if got := useraddCmd(tt.u).String(); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	if got := withPrefix(useraddCmd(types.PasswdUser{Name: "core"}), "/tmp/x").String(); got != "useradd --prefix /tmp/x --no-create-home --password * core" {
		t.Errorf("with prefix: %s", got)
	}
}

func TestGroupaddArgs(t *testing.T) {
	got := groupaddCmd(types.PasswdGroup{Name: "ops", Gid: ptr(1500), System: ptr(true)}).Args
	want := []string{"--gid", "1500", "--system", "ops"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
}

func TestUsermodArgsOnlyChanges(t *testing.T) {
	db := &accounts.DB{
		Users:  map[string]accounts.User{"core": {Name: "core", UID: 1000, GID: 1000, Home: "/home/core", Shell: "/bin/sh"}},
		Groups: map[string]accounts.Group{"core": {Name: "core", GID: 1000}, "adm": {Name: "adm", GID: 4, Members: []string{"core"}}, "ops": {Name: "ops", GID: 1500}},
	}
	have := db.Users["core"]
	tests := []struct {
		name string
		u    types.PasswdUser
		want string // "" for no command
	}{
		{"same", types.PasswdUser{Name: "core", UID: ptr(1000), Shell: ptr("/bin/sh"), Groups: []types.Group{"adm", "core"}}, ""},
		{"changes", types.PasswdUser{Name: "core", Shell: ptr("/bin/bash"), Groups: []types.Group{"adm", "ops"}, PrimaryGroup: ptr("ops")},
			"usermod --gid ops --append --groups ops --shell /bin/bash core"},
	}
	for _, tt := range tests {
		c, ok := usermodCmd(tt.u, have, db)
		got := ""
		if ok {
			got = c.String()
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// fakeUseradd answers like useradd: it adds the user to the passwd file of the --prefix
// copy, with our own uid so that the test needs no root for chown.
func fakeUseradd(c command.Cmd) ([]byte, error) {
	if c.Name != "useradd" || len(c.Args) < 2 || c.Args[0] != "--prefix" {
		return nil, nil
	}
	name := c.Args[len(c.Args)-1]
	f, err := os.OpenFile(filepath.Join(c.Args[1], "etc/passwd"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s:x:%d:%d::/home/%s:/bin/bash\n", name, os.Getuid(), os.Getgid(), name)
	return nil, err
}

// withoutPrefix renders the calls without their --prefix (a temporary directory).
func withoutPrefix(calls []command.Cmd) []string {
	var out []string
	for _, c := range calls {
		if len(c.Args) >= 2 && c.Args[0] == "--prefix" {
			c.Args = c.Args[2:]
		}
		out = append(out, c.String())
	}
	return out
}

func TestPasswdStagePlansCommands(t *testing.T) {
	env, rec := newEnv(t, baseFiles)
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnPtvtqYsGQhxDUNL4SkCTF+MoSL8hKLKPRZ0bd4uXF core@test"
	cfg := parse(t, `{"ignition":{"version":"3.4.0"},"passwd":{
		"groups":[{"name":"ops","gid":1500},{"name":"svc"}],
		"users":[{"name":"core","groups":["ops","adm"],"sshAuthorizedKeys":["`+key+`"]}]}}`)
	rec.Respond = fakeUseradd
	if err := runStage(t, passwdStage{}, env, cfg); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"groupadd --gid 1500 ops",
		"useradd --no-create-home --groups ops,adm --password * core",
	}
	if got := withoutPrefix(rec.Calls); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range rec.Calls {
		if c.Args[0] != "--prefix" || strings.HasPrefix(c.Args[1], env.FS.Dir()) {
			t.Errorf("%s: not run on a copy outside the root", c)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(env.FS.Dir(), "etc/passwd"))
	if !strings.Contains(string(passwd), "\ncore:x:") {
		t.Fatalf("the copy's passwd did not come back: %s", passwd)
	}
	for _, p := range []string{"var/home/core/.ssh/authorized_keys"} {
		b, err := os.ReadFile(filepath.Join(env.FS.Dir(), p))
		if err != nil || string(b) != key+"\n" {
			t.Fatalf("%s = %q, %v", p, b, err)
		}
		fi, _ := os.Stat(filepath.Join(env.FS.Dir(), p))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", p, fi.Mode())
		}
	}
}

func TestPasswdStageRefuses(t *testing.T) {
	tests := []struct{ name, passwd, want string }{
		{"uid taken", `{"users":[{"name":"core","uid":998}]}`, "$.passwd.users[0].uid: uid 998 belongs to user svc already"},
		{"uid twice", `{"users":[{"name":"a","uid":2000},{"name":"b","uid":2000}]}`, "$.passwd.users[1].uid: uid 2000 belongs to user a already"},
		{"gid taken", `{"groups":[{"name":"ops","gid":4}]}`, "$.passwd.groups[0].gid: gid 4 belongs to group adm already"},
		{"user group exists", `{"users":[{"name":"adm"}]}`, "$.passwd.users[0]: useradd would make a group adm for the user, and there is one"},
		{"user group from config", `{"groups":[{"name":"core"}],"users":[{"name":"core"}]}`, "$.passwd.users[0]: useradd would make a group core"},
		{"no group", `{"users":[{"name":"core","groups":["nope"]}]}`, "$.passwd.users[0].groups[0]: no group nope"},
		{"no primary", `{"users":[{"name":"core","primaryGroup":"nope"}]}`, "$.passwd.users[0].primaryGroup"},
		{"gid clash", `{"groups":[{"name":"svc","gid":5}]}`, "$.passwd.groups[0].gid: group svc exists with gid 998"},
		{"bad key", `{"users":[{"name":"core","sshAuthorizedKeys":["not a key"]}]}`, "$.passwd.users[0].sshAuthorizedKeys[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, rec := newEnv(t, baseFiles)
			err := runStage(t, passwdStage{}, env, parse(t, `{"ignition":{"version":"3.4.0"},"passwd":`+tt.passwd+`}`))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if len(rec.Calls) != 0 {
				t.Fatalf("ran %v", rec.Calls)
			}
		})
	}
}

// TestPasswdStageWithShadow runs the real useradd, groupadd and usermod with --prefix.
func TestPasswdStageWithShadow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("useradd --prefix and chown need root")
	}
	for _, tool := range []string{"useradd", "groupadd", "usermod"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian package passwd)", tool)
		}
	}
	env, _ := newEnv(t, with(baseFiles, map[string]string{"etc/skel/.profile": "PATH=/bin\n"}))
	env.Runner = command.Exec{}
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnPtvtqYsGQhxDUNL4SkCTF+MoSL8hKLKPRZ0bd4uXF core@test"
	cfg := parse(t, `{"ignition":{"version":"3.4.0"},"passwd":{
		"groups":[{"name":"ops","gid":1500}],
		"users":[{"name":"core","uid":1234,"gecos":"Core","groups":["ops","adm"],"shell":"/bin/bash","sshAuthorizedKeys":["`+key+`"]},
		         {"name":"svc","groups":["ops"]},
		         {"name":"daemon2","system":true,"noCreateHome":true,"noUserGroup":true,"primaryGroup":"ops"}]}}`)
	for run := 0; run < 2; run++ { // the second run finds everything done
		if err := runStage(t, passwdStage{}, env, cfg); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	db, err := accounts.Load(env.FS)
	if err != nil {
		t.Fatal(err)
	}
	core := db.Users["core"]
	if core.UID != 1234 || core.Gecos != "Core" || core.Home != "/home/core" || core.Shell != "/bin/bash" {
		t.Fatalf("core = %+v", core)
	}
	if g := db.Groups["core"]; g.GID != core.GID {
		t.Fatalf("no user group: %+v", db.Groups)
	}
	for _, g := range []string{"ops", "adm"} {
		if !isMember(db, g, "core") {
			t.Errorf("core not in %s", g)
		}
	}
	if !isMember(db, "ops", "svc") || db.Users["daemon2"].GID != 1500 || db.Users["daemon2"].UID >= 1000 {
		t.Errorf("svc/daemon2: %+v", db)
	}
	shadow, _ := os.ReadFile(filepath.Join(env.FS.Dir(), "etc/shadow"))
	if !strings.Contains(string(shadow), "\ncore:*:") {
		t.Errorf("core's password is not *: %s", shadow)
	}
	home := filepath.Join(env.FS.Dir(), "var/home/core")
	for p, want := range map[string]os.FileMode{home: 0o700 | os.ModeDir, home + "/.ssh": 0o700 | os.ModeDir,
		home + "/.ssh/authorized_keys": 0o600, home + "/.profile": 0o644} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want || ownerUID(fi) != 1234 {
			t.Errorf("%s: %v uid %d", p, fi.Mode(), ownerUID(fi))
		}
	}
	if _, err := os.Stat(filepath.Join(env.FS.Dir(), "home/daemon2")); !os.IsNotExist(err) {
		t.Errorf("noCreateHome made a home: %v", err)
	}
	b, _ := os.ReadFile(home + "/.ssh/authorized_keys")
	if string(b) != key+"\n" {
		t.Errorf("authorized_keys = %q", b)
	}
}

func ownerUID(fi os.FileInfo) int {
	uid, _, _ := statOwner(fi)
	return uid
}

func TestPasswdStageToolFailureNamesPath(t *testing.T) {
	env, rec := newEnv(t, baseFiles)
	rec.Respond = func(c command.Cmd) ([]byte, error) {
		return nil, &command.Error{Cmd: c.Name, Stderr: "useradd: UID 0 is not unique", Err: errors.New("exit status 4")}
	}
	err := runStage(t, passwdStage{}, env, parse(t, `{"ignition":{"version":"3.4.0"},"passwd":{"users":[{"name":"core","uid":1000}]}}`))
	if err == nil || err.Error() != "$.passwd.users[0]: useradd: exit status 4: useradd: UID 0 is not unique" {
		t.Fatalf("err = %v", err)
	}
}
