package stages

import (
	"fmt"

	"github.com/coreos/ignition/v2/config/v3_6/types"
	"github.com/mantlet/mantlet/firstboot/accounts"
	"github.com/mantlet/mantlet/firstboot/rootfs"
)

// names knows which user and group names will exist once the passwd stage has run.
type names struct {
	users, groups map[string]bool
}

func newNames(pw types.Passwd, db *accounts.DB, defs accounts.Defs) names {
	n := names{users: map[string]bool{}, groups: map[string]bool{}}
	for u := range db.Users {
		n.users[u] = true
	}
	for g := range db.Groups {
		n.groups[g] = true
	}
	for _, g := range pw.Groups {
		n.groups[g.Name] = true
	}
	for _, u := range pw.Users {
		n.users[u.Name] = true
		if userGroup(u, defs) {
			n.groups[u.Name] = true
		}
	}
	return n
}

func (n names) check(at string, u types.NodeUser, g types.NodeGroup) error {
	if u.ID == nil && u.Name != nil && *u.Name != "" && !n.users[*u.Name] {
		return fmt.Errorf("%s.user.name: no user %s", at, *u.Name)
	}
	if g.ID == nil && g.Name != nil && *g.Name != "" && !n.groups[*g.Name] {
		return fmt.Errorf("%s.group.name: no group %s", at, *g.Name)
	}
	return nil
}

// owner resolves a node's user and group, by id or by name; unset parts stay -1.
func owner(db *accounts.DB, at string, u types.NodeUser, g types.NodeGroup) (rootfs.Owner, error) {
	own := rootfs.NoOwner
	switch {
	case u.ID != nil:
		own.UID = *u.ID
	case u.Name != nil && *u.Name != "":
		uid, ok := db.UID(*u.Name)
		if !ok {
			return own, fmt.Errorf("%s.user.name: no user %s", at, *u.Name)
		}
		own.UID = uid
	}
	switch {
	case g.ID != nil:
		own.GID = *g.ID
	case g.Name != nil && *g.Name != "":
		gid, ok := db.GID(*g.Name)
		if !ok {
			return own, fmt.Errorf("%s.group.name: no group %s", at, *g.Name)
		}
		own.GID = gid
	}
	return own, nil
}
