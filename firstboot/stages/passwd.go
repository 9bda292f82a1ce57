package stages

import (
	"context"
	"fmt"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6/types"
	"github.com/mantlet/mantlet/firstboot/accounts"
	"github.com/mantlet/mantlet/firstboot/config"
	"github.com/mantlet/mantlet/internal/command"
	"golang.org/x/crypto/ssh"
)

func init() { Register(10, passwdStage{}) }

// passwdStage creates groups and users, their homes and their authorized SSH keys. It runs
// first so that the files the config writes can be owned by the users it creates.
//
// Shadow's tools do not edit the root's account databases: they run on a copy of them
// (--prefix, outside the root), and the databases that changed are then written into the
// root like any other file, inside the apply's transaction. A tool that fails, or a later
// stage that fails, leaves the root's databases as they were, and a power cut never leaves
// a tool's lock file in the root.
type passwdStage struct{}

func (passwdStage) Name() string { return "passwd" }

// passwdStep is one run of groupadd, useradd or usermod; the --prefix comes at run time.
type passwdStep struct {
	at  string // JSON path of the group or user
	cmd command.Cmd
}

func (passwdStage) Prepare(_ context.Context, env *Env, cfg types.Config) (Action, error) {
	pw := cfg.Passwd
	if len(pw.Users) == 0 && len(pw.Groups) == 0 {
		return nil, nil
	}
	db, err := accounts.Load(env.FS)
	if err != nil {
		return nil, err
	}
	defs, err := accounts.LoadDefs(env.FS)
	if err != nil {
		return nil, err
	}
	steps, err := planPasswd(pw, db, defs)
	if err != nil {
		return nil, err
	}
	keys := map[string][]byte{}
	for i, u := range pw.Users {
		if len(u.SSHAuthorizedKeys) > 0 {
			k, err := authorizedKeys(config.Path("passwd", "users", i), u.SSHAuthorizedKeys)
			if err != nil {
				return nil, err
			}
			keys[u.Name] = k
		}
	}
	return func(ctx context.Context) error {
		if len(steps) > 0 {
			if err := runShadow(ctx, env, steps); err != nil {
				return err
			}
		}
		db, err := accounts.Load(env.FS)
		if err != nil {
			return err
		}
		for i, u := range pw.Users {
			have, ok := db.Users[u.Name]
			if !ok {
				return fmt.Errorf("%s: user %s missing after useradd", config.Path("passwd", "users", i), u.Name)
			}
			if !isTrue(u.NoCreateHome) {
				if err := ensureHome(env, have, defs.HomeMode()); err != nil {
					return err
				}
			}
			if k, ok := keys[u.Name]; ok {
				if err := writeAuthorizedKeys(env, have, k); err != nil {
					return err
				}
			}
		}
		env.logf("stage passwd: %d groups, %d users", len(pw.Groups), len(pw.Users))
		return nil
	}, nil
}

// planPasswd checks the groups and users of a config against the root's databases and
// lists the tool runs that make them so. Everything shadow's tools would refuse halfway is
// refused here, with the JSON path, before anything runs.
func planPasswd(pw types.Passwd, db *accounts.DB, defs accounts.Defs) ([]passwdStep, error) {
	willExist := map[string]bool{}
	for name := range db.Groups {
		willExist[name] = true
	}
	gidOwner := map[int]string{}
	for _, g := range db.Groups {
		gidOwner[g.GID] = g.Name
	}
	var steps []passwdStep
	for i, g := range pw.Groups {
		at := config.Path("passwd", "groups", i)
		if !config.AccountName.MatchString(g.Name) {
			return nil, fmt.Errorf("%s.name: not a valid group name", at)
		}
		willExist[g.Name] = true
		have, exists := db.Groups[g.Name]
		switch {
		case exists && g.Gid != nil && *g.Gid != have.GID:
			return nil, fmt.Errorf("%s.gid: group %s exists with gid %d", at, g.Name, have.GID)
		case exists:
		case g.Gid != nil && gidOwner[*g.Gid] != "":
			return nil, fmt.Errorf("%s.gid: gid %d belongs to group %s already", at, *g.Gid, gidOwner[*g.Gid])
		default:
			if g.Gid != nil {
				gidOwner[*g.Gid] = g.Name
			}
			steps = append(steps, passwdStep{at, groupaddCmd(g)})
		}
	}
	uidOwner := map[int]string{}
	for _, u := range db.Users {
		uidOwner[u.UID] = u.Name
	}
	for i, u := range pw.Users {
		if _, exists := db.Users[u.Name]; exists || !userGroup(u, defs) {
			continue
		}
		at := config.Path("passwd", "users", i)
		if willExist[u.Name] {
			return nil, fmt.Errorf("%s: useradd would make a group %s for the user, and there is one: "+
				"set primaryGroup (or noUserGroup) to use it", at, u.Name)
		}
		willExist[u.Name] = true
	}
	for i, u := range pw.Users {
		at := config.Path("passwd", "users", i)
		if !config.AccountName.MatchString(u.Name) {
			return nil, fmt.Errorf("%s.name: not a valid user name", at)
		}
		if u.PrimaryGroup != nil && !willExist[*u.PrimaryGroup] {
			return nil, fmt.Errorf("%s.primaryGroup: no group %s", at, *u.PrimaryGroup)
		}
		for j, g := range u.Groups {
			if !willExist[string(g)] {
				return nil, fmt.Errorf("%s.groups[%d]: no group %s", at, j, g)
			}
		}
		have, exists := db.Users[u.Name]
		if u.UID != nil && (!exists || *u.UID != have.UID) {
			if other := uidOwner[*u.UID]; other != "" && other != u.Name {
				return nil, fmt.Errorf("%s.uid: uid %d belongs to user %s already", at, *u.UID, other)
			}
			uidOwner[*u.UID] = u.Name
		}
		if exists {
			if c, ok := usermodCmd(u, have, db); ok {
				steps = append(steps, passwdStep{at, c})
			}
		} else {
			steps = append(steps, passwdStep{at, useraddCmd(u)})
		}
	}
	return steps, nil
}

// userGroup says whether useradd makes a group of the user's name: it follows login.defs'
// USERGROUPS_ENAB unless the config names the primary group or says noUserGroup (as
// Ignition, which leaves it to useradd).
func userGroup(u types.PasswdUser, defs accounts.Defs) bool {
	return defs.UserGroups() && !isTrue(u.NoUserGroup) && u.PrimaryGroup == nil
}

// authorizedKeys checks every key and joins them, one a line.
func authorizedKeys(at string, ks []types.SSHAuthorizedKey) ([]byte, error) {
	var out []byte
	for j, k := range ks {
		if strings.ContainsAny(string(k), "\r\n") {
			return nil, fmt.Errorf("%s.sshAuthorizedKeys[%d]: one key per entry, without line breaks", at, j)
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			return nil, fmt.Errorf("%s.sshAuthorizedKeys[%d]: not an SSH public key", at, j)
		}
		out = append(out, k...)
		out = append(out, '\n')
	}
	return out, nil
}
