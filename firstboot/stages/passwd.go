package stages

import (
	"context"
	"fmt"
	"regexp"
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
type passwdStage struct{}

func (passwdStage) Name() string { return "passwd" }

// accountName is what shadow's tools accept by default (Debian's NAME_REGEX, with the
// trailing $ of machine accounts).
var accountName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}\$?$`)

func (passwdStage) Prepare(_ context.Context, env *Env, cfg types.Config) (Action, error) {
	pw := cfg.Passwd
	if len(pw.Users) == 0 && len(pw.Groups) == 0 {
		return nil, nil
	}
	db, err := accounts.Load(env.FS)
	if err != nil {
		return nil, err
	}
	willExist := map[string]bool{}
	for name := range db.Groups {
		willExist[name] = true
	}
	type step struct {
		at  string // JSON path of the group or user
		cmd command.Cmd
	}
	var cmds []step
	for i, g := range pw.Groups {
		at := config.Path("passwd", "groups", i)
		if !accountName.MatchString(g.Name) {
			return nil, fmt.Errorf("%s.name: not a valid group name", at)
		}
		willExist[g.Name] = true
		have, exists := db.Groups[g.Name]
		switch {
		case !exists:
			cmds = append(cmds, step{at, groupaddCmd(env.FS.Dir(), g)})
		case g.Gid != nil && *g.Gid != have.GID:
			return nil, fmt.Errorf("%s.gid: group %s exists with gid %d", at, g.Name, have.GID)
		}
	}
	for _, u := range pw.Users {
		if _, exists := db.Users[u.Name]; !exists && !isTrue(u.NoUserGroup) && u.PrimaryGroup == nil {
			willExist[u.Name] = true
		}
	}
	keys := map[string][]byte{}
	for i, u := range pw.Users {
		at := config.Path("passwd", "users", i)
		if !accountName.MatchString(u.Name) {
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
		if have, exists := db.Users[u.Name]; exists {
			if c, ok := usermodCmd(env.FS.Dir(), u, have, db); ok {
				cmds = append(cmds, step{at, c})
			}
		} else {
			cmds = append(cmds, step{at, useraddCmd(env.FS.Dir(), u)})
		}
		if len(u.SSHAuthorizedKeys) > 0 {
			k, err := authorizedKeys(at, u.SSHAuthorizedKeys)
			if err != nil {
				return nil, err
			}
			keys[u.Name] = k
		}
	}
	return func(ctx context.Context) error {
		for _, s := range cmds {
			if _, err := env.Runner.Run(ctx, s.cmd); err != nil {
				return fmt.Errorf("%s: %w", s.at, err)
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
				if err := ensureHome(env, have); err != nil {
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
