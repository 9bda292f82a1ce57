package config

import (
	"regexp"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6/types"
)

// MaxID is the largest user or group id: (uid_t)-1 means "no change" to chown and shadow
// refuses it, so the last usable id is one below.
const MaxID = 1<<32 - 2

// AccountName is what shadow's tools accept by default (Debian's NAME_REGEX, with the
// trailing $ of machine accounts).
var AccountName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}\$?$`)

// Invalid lists the values of a config that Ignition's own validation lets through but that
// cannot be applied: ids out of range, account names shadow refuses, homes and shells that
// are not clean absolute paths, fields with the separators of /etc/passwd in them. They are
// found here, before anything is written, and all at once.
func Invalid(cfg types.Config) []Problem {
	var ps []Problem
	bad := func(msg string, elems ...any) {
		ps = append(ps, Problem{Severity: Error, Path: Path(elems...), Message: msg, at: elems})
	}
	id := func(v *int, elems ...any) {
		if v != nil && (*v < 0 || *v > MaxID) {
			bad("must be between 0 and 4294967294", elems...)
		}
	}
	for i, g := range cfg.Passwd.Groups {
		if !AccountName.MatchString(g.Name) {
			bad("not a valid group name (lower-case letters, digits, _ and -, at most 32, not starting with a digit or -)", "passwd", "groups", i, "name")
		}
		id(g.Gid, "passwd", "groups", i, "gid")
	}
	for i, u := range cfg.Passwd.Users {
		at := []any{"passwd", "users", i}
		if !AccountName.MatchString(u.Name) {
			bad("not a valid user name (lower-case letters, digits, _ and -, at most 32, not starting with a digit or -)", append(at, "name")...)
		}
		id(u.UID, append(at, "uid")...)
		if u.HomeDir != nil {
			if msg := cleanPath(*u.HomeDir); msg != "" {
				bad(msg, append(at, "homeDir")...)
			}
		}
		if u.Shell != nil {
			if msg := cleanPath(*u.Shell); msg != "" {
				bad(msg, append(at, "shell")...)
			}
		}
		if u.Gecos != nil && strings.ContainsAny(*u.Gecos, ":\n\r\x00") {
			bad("must not contain ':' or a line break (the separators of /etc/passwd)", append(at, "gecos")...)
		}
		if u.PrimaryGroup != nil && !AccountName.MatchString(*u.PrimaryGroup) {
			bad("not a valid group name", append(at, "primaryGroup")...)
		}
		for j, g := range u.Groups {
			if !AccountName.MatchString(string(g)) {
				bad("not a valid group name", append(at, "groups", j)...)
			}
		}
	}
	owners := func(kind string, i int, u types.NodeUser, g types.NodeGroup) {
		id(u.ID, "storage", kind, i, "user", "id")
		id(g.ID, "storage", kind, i, "group", "id")
	}
	for i, d := range cfg.Storage.Directories {
		owners("directories", i, d.User, d.Group)
	}
	for i, f := range cfg.Storage.Files {
		owners("files", i, f.User, f.Group)
	}
	for i, l := range cfg.Storage.Links {
		owners("links", i, l.User, l.Group)
	}
	return ps
}

// cleanPath says what is wrong with a path that goes into /etc/passwd, "" if nothing.
func cleanPath(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "must be an absolute path"
	case strings.ContainsAny(p, ":\n\r\x00"):
		return "must not contain ':' or a line break (the separators of /etc/passwd)"
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return `must not contain ".."`
		}
	}
	return ""
}
