// Package accounts reads the user and group databases (/etc/passwd, /etc/group) of a root
// filesystem, to look up owners by name and to tell which accounts already exist.
package accounts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/mantlet/mantlet/firstboot/rootfs"
)

// User is one /etc/passwd entry.
type User struct {
	Name  string
	UID   int
	GID   int
	Gecos string
	Home  string
	Shell string
}

// Group is one /etc/group entry.
type Group struct {
	Name    string
	GID     int
	Members []string
}

// DB holds the accounts of one root.
type DB struct {
	Users  map[string]User
	Groups map[string]Group
}

// Load reads /etc/passwd and /etc/group inside fsys; a missing file is an empty database.
func Load(fsys *rootfs.FS) (*DB, error) {
	db := &DB{Users: map[string]User{}, Groups: map[string]Group{}}
	passwd, err := readOptional(fsys, "/etc/passwd")
	if err != nil {
		return nil, err
	}
	users, err := ParsePasswd(passwd)
	if err != nil {
		return nil, fmt.Errorf("/etc/passwd: %w", err)
	}
	for _, u := range users {
		db.Users[u.Name] = u
	}
	group, err := readOptional(fsys, "/etc/group")
	if err != nil {
		return nil, err
	}
	groups, err := ParseGroup(group)
	if err != nil {
		return nil, fmt.Errorf("/etc/group: %w", err)
	}
	for _, g := range groups {
		db.Groups[g.Name] = g
	}
	return db, nil
}

func readOptional(fsys *rootfs.FS, p string) ([]byte, error) {
	b, err := fsys.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// ParsePasswd parses /etc/passwd. Blank lines, comments and NIS "+"/"-" lines are skipped.
func ParsePasswd(data []byte) ([]User, error) {
	var users []User
	err := eachLine(data, 7, func(n int, f []string) error {
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err := errors.Join(err1, err2); err != nil || uid < 0 || gid < 0 {
			return fmt.Errorf("line %d: bad uid or gid", n)
		}
		users = append(users, User{Name: f[0], UID: uid, GID: gid, Gecos: f[4], Home: f[5], Shell: f[6]})
		return nil
	})
	return users, err
}

// ParseGroup parses /etc/group.
func ParseGroup(data []byte) ([]Group, error) {
	var groups []Group
	err := eachLine(data, 4, func(n int, f []string) error {
		gid, err := strconv.Atoi(f[2])
		if err != nil || gid < 0 {
			return fmt.Errorf("line %d: bad gid", n)
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		groups = append(groups, Group{Name: f[0], GID: gid, Members: members})
		return nil
	})
	return groups, err
}

func eachLine(data []byte, fields int, fn func(n int, f []string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != fields {
			return fmt.Errorf("line %d: %d fields, want %d", n, len(f), fields)
		}
		if err := fn(n, f); err != nil {
			return err
		}
	}
	return sc.Err()
}

// UID looks a user up by name.
func (db *DB) UID(name string) (int, bool) {
	u, ok := db.Users[name]
	return u.UID, ok
}

// GID looks a group up by name.
func (db *DB) GID(name string) (int, bool) {
	g, ok := db.Groups[name]
	return g.GID, ok
}

// Defs are the settings of /etc/login.defs that shadow's tools read, by name.
type Defs map[string]string

// LoadDefs reads /etc/login.defs inside fsys the way shadow's getdef does: one "NAME VALUE"
// a line, comments and blank lines skipped, a value in double quotes unquoted. A missing
// file gives no settings.
func LoadDefs(fsys *rootfs.FS) (Defs, error) {
	data, err := readOptional(fsys, "/etc/login.defs")
	if err != nil {
		return nil, err
	}
	return ParseDefs(data), nil
}

// ParseDefs parses the contents of login.defs.
func ParseDefs(data []byte) Defs {
	d := Defs{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		if i := strings.IndexAny(line, " \t"); i > 0 {
			name, value = line[:i], line[i+1:]
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		d[name] = value
	}
	return d
}

// Bool is a yes/no setting as shadow reads it: "yes" in any case is true, anything else
// (or no setting) false.
func (d Defs) Bool(name string) bool { return strings.EqualFold(d[name], "yes") }

// UserGroups says whether useradd gives a new user a group of its own name when the
// command line does not say (USERGROUPS_ENAB; off when login.defs does not set it).
func (d Defs) UserGroups() bool { return d.Bool("USERGROUPS_ENAB") }

// HomeMode is the mode useradd gives a new home: HOME_MODE, else the permissions UMASK
// leaves (022 when login.defs sets neither, or sets them badly).
func (d Defs) HomeMode() fs.FileMode {
	if m, err := strconv.ParseUint(d["HOME_MODE"], 8, 32); err == nil && m <= 0o777 {
		return fs.FileMode(m)
	}
	umask := uint64(0o022)
	if m, err := strconv.ParseUint(d["UMASK"], 8, 32); err == nil && m <= 0o777 {
		umask = m
	}
	return fs.FileMode(0o777 &^ umask)
}
