package build

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/mantlet/mantlet/internal/tartree"
	"github.com/mantlet/mantlet/internal/treecheck"
)

// stepInspect refuses a root tree with world-writable files or directories (but sticky
// directories) or with files of an owner or group the image does not know: an immutable root
// keeps such a mistake on every node that boots it. It runs while the tree is packed; a
// refusal fails the build, and the packed image is never used.
type stepInspect struct{}

func (*stepInspect) Name() string { return "inspect" }

// maxShown bounds the findings an error lists; the count says how many there were.
const maxShown = 20

func (*stepInspect) Run(_ context.Context, st *State) error {
	findings, err := inspectTree(st.Tree)
	if err != nil {
		return err
	}
	return inspectError(findings)
}

// inspectTree checks every entry of the tree against its own /etc/passwd and /etc/group.
func inspectTree(t *tartree.Tree) ([]treecheck.Finding, error) {
	passwd, err := t.ReadFile("/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := t.ReadFile("/etc/group")
	if err != nil {
		return nil, err
	}
	c := treecheck.NewChecker(passwd, group)
	var out []treecheck.Finding
	err = t.Walk("/", func(i tartree.Info) error {
		out = append(out, c.Check(treecheck.Entry{Path: i.Path, Mode: i.FileMode(), UID: uint32(i.UID), GID: uint32(i.GID)})...)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

func (*stepInspect) Cleanup(*State) {}

// inspectError is nil without findings, else an error that lists them and says how to fix them.
func inspectError(findings []treecheck.Finding) error {
	if len(findings) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the root tree has %d problem(s); set the mode or owner in the profile's files (mode, owner), or remove the package that installs it:", len(findings))
	for i, f := range findings {
		if i == maxShown {
			fmt.Fprintf(&b, "\n  ... and %d more", len(findings)-maxShown)
			break
		}
		fmt.Fprintf(&b, "\n  %s", f)
	}
	return fmt.Errorf("%s", b.String())
}
