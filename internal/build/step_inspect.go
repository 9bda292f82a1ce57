package build

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/mantlet/mantlet/internal/treecheck"
)

// stepInspect refuses a root tree with world-writable files or directories (but sticky
// directories) or with files of an owner or group the image does not know, before it is packed:
// an immutable root keeps such a mistake on every node that boots it.
type stepInspect struct{}

func (*stepInspect) Name() string { return "inspect" }

// maxShown bounds the findings an error lists; the count says how many there were.
const maxShown = 20

func (*stepInspect) Run(_ context.Context, st *State) error {
	f, err := os.Open(st.RootTar)
	if err != nil {
		return err
	}
	defer f.Close()
	findings, err := treecheck.CheckTar(f)
	if err != nil {
		return err
	}
	return inspectError(findings)
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
