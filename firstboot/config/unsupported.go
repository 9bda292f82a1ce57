package config

import (
	"strings"

	"github.com/coreos/ignition/v2/config/v3_6/types"
)

const notSupported = "not supported by mantlet-firstboot"

// Unsupported lists every part of a valid config that mantlet-firstboot does not implement
// (errors) or that has no effect here (warnings). Nothing is ever silently ignored.
func Unsupported(cfg types.Config) []Problem {
	var ps []Problem
	refuse := func(msg string, elems ...any) {
		ps = append(ps, Problem{Severity: Error, Path: Path(elems...), Message: msg, at: elems})
	}

	ign := cfg.Ignition
	for i, r := range ign.Config.Merge {
		if msg := sourceProblem(r); msg != "" {
			refuse(msg, "ignition", "config", "merge", i, "source")
		}
	}
	if msg := sourceProblem(ign.Config.Replace); msg != "" {
		refuse(msg, "ignition", "config", "replace", "source")
	}
	for i, r := range ign.Security.TLS.CertificateAuthorities {
		if msg := sourceProblem(r); msg != "" {
			refuse(msg, "ignition", "security", "tls", "certificateAuthorities", i, "source")
		}
	}

	if len(cfg.KernelArguments.ShouldExist) > 0 {
		refuse(notSupported, "kernelArguments", "shouldExist")
	}
	if len(cfg.KernelArguments.ShouldNotExist) > 0 {
		refuse(notSupported, "kernelArguments", "shouldNotExist")
	}

	st := cfg.Storage
	if len(st.Disks) > 0 {
		refuse(notSupported, "storage", "disks")
	}
	if len(st.Raid) > 0 {
		refuse(notSupported, "storage", "raid")
	}
	if len(st.Filesystems) > 0 {
		refuse(notSupported, "storage", "filesystems")
	}
	if len(st.Luks) > 0 {
		refuse(notSupported, "storage", "luks")
	}
	for i, f := range st.Files {
		if msg := sourceProblem(f.Contents); msg != "" {
			refuse(msg, "storage", "files", i, "contents", "source")
		}
		for j, a := range f.Append {
			if msg := sourceProblem(a); msg != "" {
				refuse(msg, "storage", "files", i, "append", j, "source")
			}
		}
	}

	for i, g := range cfg.Passwd.Groups {
		if g.PasswordHash != nil {
			refuse("passwords are "+notSupported+": the image has none", "passwd", "groups", i, "passwordHash")
		}
		if g.ShouldExist != nil && !*g.ShouldExist {
			refuse("deleting groups is "+notSupported, "passwd", "groups", i, "shouldExist")
		}
	}
	for i, u := range cfg.Passwd.Users {
		if u.PasswordHash != nil {
			refuse("passwords are "+notSupported+": the image has none, use sshAuthorizedKeys", "passwd", "users", i, "passwordHash")
		}
		if u.ShouldExist != nil && !*u.ShouldExist {
			refuse("deleting users is "+notSupported, "passwd", "users", i, "shouldExist")
		}
	}
	return ps
}

var knownSchemes = map[string]bool{"tftp": true, "s3": true, "arn": true, "gs": true}

// sourceProblem says what is wrong with a resource's source, "" if nothing: data: and
// https: URLs are implemented, http: only with verification.hash (a plain-text fetch is
// trusted only when its hash is pinned). The source itself is never quoted (it may hold a
// secret).
func sourceProblem(r types.Resource) string {
	if r.Source == nil {
		return ""
	}
	scheme, _, ok := strings.Cut(*r.Source, ":")
	if !ok || scheme == "" {
		return "source without a URL scheme is " + notSupported
	}
	switch scheme = strings.ToLower(scheme); scheme {
	case "data", "https":
	case "http":
		if r.Verification.Hash == nil {
			return "scheme http without verification.hash is " + notSupported + " (use https or pin the hash)"
		}
	default:
		if !knownSchemes[scheme] {
			scheme = "of this URL" // not quoted: it could be part of a secret
		}
		return "scheme " + scheme + " " + notSupported + " (only data:, https: and hash-pinned http: URLs)"
	}
	if r.Compression != nil && *r.Compression != "" && *r.Compression != "gzip" {
		return "compression " + *r.Compression + ": " + notSupported
	}
	return ""
}
