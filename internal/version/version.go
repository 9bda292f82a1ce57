// Package version says which mantlet this is: the version and commit the Makefile stamps in
// (-ldflags -X), else what the Go toolchain recorded of the module and the VCS checkout.
package version

import (
	"runtime/debug"
)

// Set by the linker: go build -ldflags "-X github.com/mantlet/mantlet/internal/version.Version=v0.3.0
// -X github.com/mantlet/mantlet/internal/version.Commit=abc123".
var (
	Version string
	Commit  string
)

// Info is the version and the commit of this binary; "unknown" when nothing recorded them.
// A commit built from a checkout with changes ends in "-dirty".
func Info() (version, commit string) {
	version, commit = Version, Commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		if commit == "" {
			dirty := false
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					commit = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if commit != "" && dirty {
				commit += "-dirty"
			}
		}
	}
	if version == "" {
		version = "unknown"
	}
	if commit == "" {
		commit = "unknown"
	}
	return version, commit
}

// String is "VERSION (commit COMMIT)", for --version.
func String() string {
	v, c := Info()
	return v + " (commit " + c + ")"
}
