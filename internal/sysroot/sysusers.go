package sysroot

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// sysusersDirs are where systemd-sysusers reads its configuration, a file of the same name in
// an earlier directory replacing a later one.
var sysusersDirs = []string{"/etc/sysusers.d", "/run/sysusers.d", "/usr/local/lib/sysusers.d", "/usr/lib/sysusers.d", "/lib/sysusers.d"}

// Debian 12's systemd: system users and groups are allocated from this id downwards; a user
// gets this shell unless it is root.
const (
	systemIDMax  = 999
	nologinShell = "/usr/sbin/nologin"
)

// sysItem is one u or g line (or one implied by an m line).
type sysItem struct {
	kind          byte // 'u' or 'g'
	name          string
	uid, gid      int
	uidSet        bool
	gidSet        bool
	groupName     string // u NAME UID:GROUP
	gecos, home   string
	shell         string
	idStrict      bool
	where         string // file:line, for errors
	todoUser      bool
	todoGroup     bool
	createdGroup  bool
	createdMember []string
}

// sysusers is one run of systemd-sysusers over the tree.
type sysusers struct {
	a       *Accounts
	users   []*sysItem // in the order of the configuration
	groups  []*sysItem
	byUser  map[string]*sysItem
	byGroup map[string]*sysItem
	members []member // m lines, in order
	// todo: ids given out in this run
	todoUIDs, todoGIDs map[int]*sysItem
	search             int // the next id to try is below this one
}

type member struct{ user, group string }

// Sysusers does what systemd-sysusers (without arguments) does: it reads every sysusers.d
// file of the tree and creates the users and groups that do not exist yet, ids from 999
// downwards avoiding those in use (a user's group gets the user's id when it can), members of
// m lines added, passwords locked. Lines of type r and ids taken from a file's owner are not
// supported at build time and are refused, naming the file and line.
func Sysusers(a *Accounts) error {
	s := &sysusers{a: a, byUser: map[string]*sysItem{}, byGroup: map[string]*sysItem{},
		todoUIDs: map[int]*sysItem{}, todoGIDs: map[int]*sysItem{}, search: systemIDMax + 1}
	if err := s.read(); err != nil {
		return err
	}
	s.implicit()
	for _, i := range s.groups {
		if err := s.addGroup(i); err != nil {
			return err
		}
	}
	for _, i := range s.users {
		if err := s.addUserWithGroup(i); err != nil {
			return err
		}
	}
	return s.write()
}

// read parses the configuration files in the order systemd reads them: by file name, the first
// directory's file of a name winning.
func (s *sysusers) read() error {
	files := map[string]string{}
	for _, dir := range sysusersDirs {
		names, err := s.a.t.Glob(dir, "*.conf")
		if err != nil {
			return err
		}
		for _, p := range names {
			if _, ok := files[path.Base(p)]; !ok {
				files[path.Base(p)] = p
			}
		}
	}
	bases := make([]string, 0, len(files))
	for b := range files {
		bases = append(bases, b)
	}
	sort.Strings(bases)
	for _, b := range bases {
		data, err := s.a.t.ReadFile(files[b])
		if err != nil {
			return err
		}
		for n, line := range strings.Split(string(data), "\n") {
			if err := s.parse(line, fmt.Sprintf("%s:%d", files[b], n+1)); err != nil {
				return fmt.Errorf("sysusers.d %s: %w", fmt.Sprintf("%s:%d", files[b], n+1), err)
			}
		}
	}
	return nil
}

func (s *sysusers) parse(line, where string) error {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return nil
	}
	f, err := splitQuoted(line)
	if err != nil {
		return err
	}
	for len(f) < 6 {
		f = append(f, "-")
	}
	if strings.Contains(strings.Join(f[:2], ""), "%") {
		return fmt.Errorf("specifiers (%%) are not supported at build time")
	}
	dash := func(v string) string {
		if v == "-" {
			return ""
		}
		return v
	}
	switch f[0] {
	case "u":
		if s.byUser[f[1]] != nil {
			return nil // a second line for the name: systemd-sysusers ignores it
		}
		i := &sysItem{kind: 'u', name: f[1], gecos: dash(f[3]), home: dash(f[4]), shell: dash(f[5]), where: where}
		if id := dash(f[2]); id != "" {
			u, g, hasG := strings.Cut(id, ":")
			if strings.HasPrefix(u, "/") {
				return fmt.Errorf("ids from a file's owner (%s) are not supported at build time", u)
			}
			n, err := strconv.Atoi(u)
			if err != nil {
				return fmt.Errorf("user id %q is not a number", u)
			}
			i.uid, i.uidSet = n, true
			if hasG {
				if gn, err := strconv.Atoi(g); err == nil {
					i.gid, i.gidSet, i.idStrict = gn, true, true
				} else {
					i.groupName = g
				}
			}
		}
		s.users = append(s.users, i)
		s.byUser[i.name] = i
	case "g":
		if s.byGroup[f[1]] != nil {
			return nil
		}
		i := &sysItem{kind: 'g', name: f[1], where: where}
		if id := dash(f[2]); id != "" {
			if strings.HasPrefix(id, "/") {
				return fmt.Errorf("ids from a file's owner (%s) are not supported at build time", id)
			}
			n, err := strconv.Atoi(id)
			if err != nil {
				return fmt.Errorf("group id %q is not a number", id)
			}
			i.gid, i.gidSet = n, true
		}
		s.groups = append(s.groups, i)
		s.byGroup[i.name] = i
	case "m":
		s.members = append(s.members, member{user: f[1], group: f[2]})
	default:
		return fmt.Errorf("line type %q is not supported at build time (u, g and m are)", f[0])
	}
	return nil
}

// splitQuoted splits a sysusers.d line into fields; "double quotes" keep spaces.
func splitQuoted(line string) ([]string, error) {
	var out []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote")
			}
			out = append(out, line[1:end+1])
			line = line[end+2:]
			continue
		}
		end := strings.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		out = append(out, line[:end])
		line = line[end:]
	}
	return out, nil
}

// implicit adds the users and groups that m lines name and no u or g line declares.
func (s *sysusers) implicit() {
	for _, m := range s.members {
		if s.byUser[m.user] == nil {
			i := &sysItem{kind: 'u', name: m.user}
			s.users = append(s.users, i)
			s.byUser[m.user] = i
		}
		if s.byUser[m.group] == nil && s.byGroup[m.group] == nil {
			i := &sysItem{kind: 'g', name: m.group}
			s.groups = append(s.groups, i)
			s.byGroup[m.group] = i
		}
	}
}

func (s *sysusers) nextLower() (int, error) {
	if s.search <= 1 {
		return 0, fmt.Errorf("no free system id below %d", systemIDMax+1)
	}
	s.search--
	return s.search, nil
}

// dbUID and dbGID are the ids in the databases as they were read.
func (s *sysusers) dbUID(n int) (string, bool) { return s.dbName(passwdFile, n) }
func (s *sysusers) dbGID(n int) (string, bool) { return s.dbName(groupFile, n) }

func (s *sysusers) dbName(file string, n int) (string, bool) {
	for _, l := range s.a.files[file].lines {
		f := strings.Split(l, ":")
		if len(f) > 2 && f[2] == strconv.Itoa(n) {
			return f[0], true
		}
	}
	return "", false
}

func (s *sysusers) gidOK(gid int, checkUID bool) bool {
	if s.todoGIDs[gid] != nil {
		return false
	}
	if checkUID && s.todoUIDs[gid] != nil {
		return false
	}
	if _, used := s.dbGID(gid); used {
		return false
	}
	if _, used := s.dbUID(gid); checkUID && used {
		return false
	}
	return true
}

func (s *sysusers) uidOK(uid int, name string, checkGID bool) bool {
	if s.todoUIDs[uid] != nil {
		return false
	}
	if checkGID {
		if i := s.todoGIDs[uid]; i != nil && i.name != name {
			return false
		}
	}
	if _, used := s.dbUID(uid); used {
		return false
	}
	if n, used := s.dbGID(uid); checkGID && used && n != name {
		return false
	}
	return true
}

// addGroup creates the group of i (a g line, or the group of a u line) unless it exists.
func (s *sysusers) addGroup(i *sysItem) error {
	if gid, ok := s.a.GID(i.name); ok {
		i.gid, i.gidSet = gid, true
		return nil
	}
	if i.gidSet && !s.gidOK(i.gid, false) {
		i.gidSet = false
	}
	if !i.gidSet && i.uidSet && s.gidOK(i.uid, true) {
		i.gid, i.gidSet = i.uid, true
	}
	for !i.gidSet {
		n, err := s.nextLower()
		if err != nil {
			return fmt.Errorf("group %s: %w", i.name, err)
		}
		if s.gidOK(n, true) {
			i.gid, i.gidSet = n, true
		}
	}
	s.todoGIDs[i.gid] = i
	i.todoGroup = true
	return nil
}

// addUserWithGroup creates the user of a u line and, unless the line names one, its group.
func (s *sysusers) addUserWithGroup(i *sysItem) error {
	switch j := s.byGroup[i.name]; {
	case !i.gidSet && i.groupName == "" && j != nil && j.todoGroup:
		i.gid, i.gidSet, i.idStrict = j.gid, true, true
	case i.groupName != "":
		gid, ok := s.a.GID(i.groupName)
		if !ok {
			if g := s.byGroup[i.groupName]; g != nil && g.todoGroup {
				gid, ok = g.gid, true
			}
		}
		if !ok {
			return fmt.Errorf("sysusers.d %s: user %s: no group %s", i.where, i.name, i.groupName)
		}
		i.gid, i.gidSet = gid, true
	case !i.gidSet || !i.idStrict:
		if err := s.addGroup(i); err != nil {
			return err
		}
	}
	if uid, ok := s.a.UID(i.name); ok {
		i.uid, i.uidSet = uid, true
		return nil
	}
	if i.uidSet && !s.uidOK(i.uid, i.name, !i.idStrict) {
		i.uidSet = false
	}
	if !i.uidSet && i.gidSet && s.uidOK(i.gid, i.name, true) {
		i.uid, i.uidSet = i.gid, true
	}
	for !i.uidSet {
		n, err := s.nextLower()
		if err != nil {
			return fmt.Errorf("user %s: %w", i.name, err)
		}
		if s.uidOK(n, i.name, true) {
			i.uid, i.uidSet = n, true
		}
	}
	s.todoUIDs[i.uid] = i
	i.todoUser = true
	return nil
}

// write appends the new entries and adds the members, as systemd-sysusers writes them.
func (s *sysusers) write() error {
	a := s.a
	// Members: of groups that exist, their lines change; of new groups, their new lines say so.
	newMembers := map[string][]string{}
	for _, m := range s.members {
		if !contains(newMembers[m.group], m.user) {
			newMembers[m.group] = append(newMembers[m.group], m.user)
		}
	}
	for _, l := range newMembers {
		sort.Strings(l)
	}
	for _, g := range sortedKeys(newMembers) {
		if !s.isTodoGroup(g) {
			a.addMembers(groupFile, g, 3, newMembers[g])
			a.addMembers(gshadowFile, g, 3, newMembers[g])
		}
	}
	all := append(append([]*sysItem{}, s.groups...), s.users...)
	for _, i := range all {
		if !i.todoGroup {
			continue
		}
		mem := strings.Join(newMembers[i.name], ",")
		a.add(groupFile, fmt.Sprintf("%s:x:%d:%s", i.name, i.gid, mem))
		if a.files[gshadowFile].exists {
			a.add(gshadowFile, fmt.Sprintf("%s:!*::%s", i.name, mem))
		}
	}
	for _, i := range s.users {
		if !i.todoUser {
			continue
		}
		home, shell := i.home, i.shell
		if home == "" {
			home = "/"
		}
		if shell == "" {
			shell = nologinShell
			if i.uid == 0 {
				shell = "/bin/sh"
			}
		}
		a.add(passwdFile, fmt.Sprintf("%s:x:%d:%d:%s:%s:%s", i.name, i.uid, i.gid, i.gecos, home, shell))
		if a.files[shadowFile].exists {
			a.add(shadowFile, fmt.Sprintf("%s:!*:%d::::::", i.name, a.day))
		}
	}
	return nil
}

func (s *sysusers) isTodoGroup(name string) bool {
	for _, i := range s.todoGIDs {
		if i.name == name {
			return true
		}
	}
	return false
}

// addMembers adds users to field i (comma-separated) of the entry named name; the list ends
// up sorted, as systemd-sysusers writes it.
func (a *Accounts) addMembers(file, name string, i int, users []string) {
	db := a.files[file]
	for n, l := range db.lines {
		f := strings.Split(l, ":")
		if len(f) <= i || f[0] != name {
			continue
		}
		have := []string{}
		if f[i] != "" {
			have = strings.Split(f[i], ",")
		}
		changed := false
		for _, u := range users {
			if !contains(have, u) {
				have, changed = append(have, u), true
			}
		}
		if changed {
			sort.Strings(have) // as systemd-sysusers writes them
			f[i] = strings.Join(have, ",")
			db.lines[n], db.changed = strings.Join(f, ":"), true
		}
		return
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
