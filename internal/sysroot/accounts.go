package sysroot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/mantlet/mantlet/internal/tartree"
)

// The account databases of a tree.
const (
	passwdFile  = "/etc/passwd"
	groupFile   = "/etc/group"
	shadowFile  = "/etc/shadow"
	gshadowFile = "/etc/gshadow"
)

// Accounts holds the account databases of a tree, line by line as they are, so that what is
// added is appended and nothing else changes.
type Accounts struct {
	t     *tartree.Tree
	files map[string]*dbFile
	day   int64 // days since 1970 of SOURCE_DATE_EPOCH: the "last changed" of new shadow entries
}

// dbFile is one database: its lines, and whether they changed.
type dbFile struct {
	lines   []string
	exists  bool
	changed bool
}

// LoadAccounts reads /etc/passwd, group, shadow and gshadow of the tree. epoch is the
// SOURCE_DATE_EPOCH that shadow's tools and systemd-sysusers write as the date of a new
// account's password.
func LoadAccounts(t *tartree.Tree, epoch time.Time) (*Accounts, error) {
	a := &Accounts{t: t, files: map[string]*dbFile{}, day: epoch.Unix() / 86400}
	for _, f := range []string{passwdFile, groupFile, shadowFile, gshadowFile} {
		data, err := t.ReadFile(f)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		db := &dbFile{exists: err == nil}
		if len(data) > 0 {
			db.lines = strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		}
		a.files[f] = db
	}
	if !a.files[passwdFile].exists || !a.files[groupFile].exists {
		return nil, fmt.Errorf("the tree has no %s or %s", passwdFile, groupFile)
	}
	return a, nil
}

// field returns field i (0-based) of the entry named name in file, and whether there is one.
func (a *Accounts) field(file, name string, i int) (string, bool) {
	for _, l := range a.files[file].lines {
		f := strings.Split(l, ":")
		if len(f) > i && f[0] == name {
			return f[i], true
		}
	}
	return "", false
}

// ids returns the numbers in field 2 of every entry of file.
func (a *Accounts) ids(file string) map[int]bool {
	used := map[int]bool{}
	for _, l := range a.files[file].lines {
		f := strings.Split(l, ":")
		if len(f) > 2 {
			if n, err := strconv.Atoi(f[2]); err == nil {
				used[n] = true
			}
		}
	}
	return used
}

// UID and GID look up a user's or group's number.
func (a *Accounts) UID(name string) (int, bool) { return a.number(passwdFile, name) }
func (a *Accounts) GID(name string) (int, bool) { return a.number(groupFile, name) }

func (a *Accounts) number(file, name string) (int, bool) {
	s, ok := a.field(file, name, 2)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// Owner resolves "user:group" (or "user", whose group is the user's primary group) to numbers.
func (a *Accounts) Owner(owner string) (tartree.Owner, error) {
	user, group, hasGroup := strings.Cut(owner, ":")
	uid, ok := a.UID(user)
	if !ok {
		return tartree.Owner{}, fmt.Errorf("owner %s: the image has no user %s (packages and sysusers.d make them)", owner, user)
	}
	var gid int
	if hasGroup {
		if gid, ok = a.GID(group); !ok {
			return tartree.Owner{}, fmt.Errorf("owner %s: the image has no group %s (packages and sysusers.d make them)", owner, group)
		}
	} else {
		s, _ := a.field(passwdFile, user, 3)
		gid, _ = strconv.Atoi(s)
	}
	return tartree.Owner{UID: uid, GID: gid}, nil
}

func (a *Accounts) add(file, line string) {
	db := a.files[file]
	db.lines = append(db.lines, line)
	db.changed = true
}

// Save writes the databases that changed back into the tree, keeping each file's mode and
// owner (a missing shadow file is made 0640 root:shadow, as shadow's tools make it).
func (a *Accounts) Save() error {
	for _, f := range []string{passwdFile, groupFile, shadowFile, gshadowFile} {
		db := a.files[f]
		if !db.changed {
			continue
		}
		mode, owner := fs.FileMode(0o644), tartree.Root
		if i, err := a.t.Stat(f); err == nil {
			mode, owner = i.Mode, tartree.Owner{UID: i.UID, GID: i.GID}
		} else if f == shadowFile || f == gshadowFile {
			mode = 0o640
			if gid, ok := a.GID("shadow"); ok {
				owner.GID = gid
			}
		}
		data := strings.Join(db.lines, "\n") + "\n"
		if err := a.t.WriteFile(f, []byte(data), mode, owner); err != nil {
			return err
		}
	}
	return nil
}

// loginDefs reads the numbers of /etc/login.defs that shadow's tools use, with their defaults.
func (a *Accounts) loginDefs() map[string]int {
	defs := map[string]int{"UID_MIN": 1000, "GID_MIN": 1000}
	data, _ := a.t.ReadFile("/etc/login.defs")
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if n, err := strconv.Atoi(f[1]); err == nil {
			defs[f[0]] = n
		}
	}
	get := func(k string, def int) int {
		if v, ok := defs[k]; ok {
			return v
		}
		return def
	}
	return map[string]int{
		"SYS_UID_MIN": get("SYS_UID_MIN", 101), "SYS_UID_MAX": get("SYS_UID_MAX", defs["UID_MIN"]-1),
		"SYS_GID_MIN": get("SYS_GID_MIN", 101), "SYS_GID_MAX": get("SYS_GID_MAX", defs["GID_MIN"]-1),
	}
}

// highestFree is the highest number in [lo, hi] not in used, as shadow allocates system ids.
func highestFree(lo, hi int, used map[int]bool) (int, bool) {
	for n := hi; n >= lo; n-- {
		if !used[n] {
			return n, true
		}
	}
	return 0, false
}

// AddSystemGroup does what groupadd --system NAME does: the highest free id of the system
// range of login.defs, a locked gshadow entry. An existing group is an error, as for groupadd.
func (a *Accounts) AddSystemGroup(name string) (int, error) {
	if _, ok := a.GID(name); ok {
		return 0, fmt.Errorf("groupadd %s: the group exists", name)
	}
	defs := a.loginDefs()
	gid, ok := highestFree(defs["SYS_GID_MIN"], defs["SYS_GID_MAX"], a.ids(groupFile))
	if !ok {
		return 0, fmt.Errorf("groupadd %s: no free system group id", name)
	}
	a.add(groupFile, fmt.Sprintf("%s:x:%d:", name, gid))
	if a.files[gshadowFile].exists {
		a.add(gshadowFile, name+":!::")
	}
	return gid, nil
}

// SystemUser is what useradd --system is given.
type SystemUser struct {
	Name, Group, Comment, Home, Shell string
}

// AddSystemUser does what useradd --system --gid GROUP --no-create-home --home-dir HOME
// --shell SHELL --comment COMMENT does: the highest free uid of the system range, a locked
// password without aging.
func (a *Accounts) AddSystemUser(u SystemUser) (int, error) {
	if _, ok := a.UID(u.Name); ok {
		return 0, fmt.Errorf("useradd %s: the user exists", u.Name)
	}
	gid, ok := a.GID(u.Group)
	if !ok {
		return 0, fmt.Errorf("useradd %s: no group %s", u.Name, u.Group)
	}
	defs := a.loginDefs()
	uid, ok := highestFree(defs["SYS_UID_MIN"], defs["SYS_UID_MAX"], a.ids(passwdFile))
	if !ok {
		return 0, fmt.Errorf("useradd %s: no free system user id", u.Name)
	}
	a.add(passwdFile, fmt.Sprintf("%s:x:%d:%d:%s:%s:%s", u.Name, uid, gid, u.Comment, u.Home, u.Shell))
	if a.files[shadowFile].exists {
		a.add(shadowFile, fmt.Sprintf("%s:!:%d::::::", u.Name, a.day))
	}
	return uid, nil
}
