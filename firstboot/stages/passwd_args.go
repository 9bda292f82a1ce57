package stages

import (
	"strconv"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6/types"
	"github.com/mantlet/mantlet/firstboot/accounts"
	"github.com/mantlet/mantlet/internal/command"
)

// The argument lists for shadow's tools are built here, apart from running them. The tools
// always run with --prefix on a copy of the root's databases (shadow 4.13, Debian 12), which
// withPrefix adds when they run. Homes are never created by the tools (--no-create-home):
// they are made inside the root by the passwd stage, so that a /home symlink is resolved in
// the root.

// withPrefix puts --prefix dir in front of a tool's arguments.
func withPrefix(c command.Cmd, dir string) command.Cmd {
	c.Args = append([]string{"--prefix", dir}, c.Args...)
	return c
}

func groupaddCmd(g types.PasswdGroup) command.Cmd {
	var args []string
	if g.Gid != nil {
		args = append(args, "--gid", strconv.Itoa(*g.Gid))
	}
	if isTrue(g.System) {
		args = append(args, "--system")
	}
	args = append(args, g.Name)
	return command.Cmd{Name: "groupadd", Args: args}
}

func useraddCmd(u types.PasswdUser) command.Cmd {
	args := []string{"--no-create-home"}
	if u.UID != nil {
		args = append(args, "--uid", strconv.Itoa(*u.UID))
	}
	if u.Gecos != nil {
		args = append(args, "--comment", *u.Gecos)
	}
	if u.HomeDir != nil {
		args = append(args, "--home-dir", *u.HomeDir)
	}
	// As Ignition: whether a user gets a group of its own is left to USERGROUPS_ENAB in
	// the root's login.defs unless the config says noUserGroup.
	if isTrue(u.NoUserGroup) {
		args = append(args, "--no-user-group")
	}
	if u.PrimaryGroup != nil {
		args = append(args, "--gid", *u.PrimaryGroup)
	}
	if len(u.Groups) > 0 {
		args = append(args, "--groups", joinGroups(u.Groups))
	}
	if u.Shell != nil {
		args = append(args, "--shell", *u.Shell)
	}
	if isTrue(u.System) {
		args = append(args, "--system")
	}
	if isTrue(u.NoLogInit) {
		args = append(args, "--no-log-init")
	}
	// "*": no password can ever match, but the account is not locked, so that sshd lets
	// the user in with a key.
	args = append(args, "--password", "*", u.Name)
	return command.Cmd{Name: "useradd", Args: args}
}

// usermodCmd changes what the config asks for and the user does not have yet; ok is false
// when there is nothing to change (so that a second run is a no-op).
func usermodCmd(u types.PasswdUser, have accounts.User, db *accounts.DB) (c command.Cmd, ok bool) {
	var args []string
	if u.UID != nil && *u.UID != have.UID {
		args = append(args, "--uid", strconv.Itoa(*u.UID))
	}
	if u.Gecos != nil && *u.Gecos != have.Gecos {
		args = append(args, "--comment", *u.Gecos)
	}
	if u.HomeDir != nil && *u.HomeDir != have.Home {
		args = append(args, "--home", *u.HomeDir)
	}
	if u.PrimaryGroup != nil {
		if gid, known := db.GID(*u.PrimaryGroup); !known || gid != have.GID {
			args = append(args, "--gid", *u.PrimaryGroup)
		}
	}
	var missing []types.Group
	for _, g := range u.Groups {
		if !isMember(db, string(g), u.Name) {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		args = append(args, "--append", "--groups", joinGroups(missing))
	}
	if u.Shell != nil && *u.Shell != have.Shell {
		args = append(args, "--shell", *u.Shell)
	}
	if len(args) == 0 {
		return command.Cmd{}, false
	}
	args = append(args, u.Name)
	return command.Cmd{Name: "usermod", Args: args}, true
}

func isMember(db *accounts.DB, group, user string) bool {
	g, ok := db.Groups[group]
	if !ok {
		return false
	}
	if u, ok := db.Users[user]; ok && u.GID == g.GID {
		return true
	}
	for _, m := range g.Members {
		if m == user {
			return true
		}
	}
	return false
}

func joinGroups(gs []types.Group) string {
	s := make([]string, len(gs))
	for i, g := range gs {
		s[i] = string(g)
	}
	return strings.Join(s, ",")
}

func isTrue(b *bool) bool { return b != nil && *b }
