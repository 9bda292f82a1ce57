package build

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/mantlet/mantlet/internal/command"
)

// stepPrepare makes the output, cache and work directories. Its cleanup removes the work
// directory (unless asked to keep it), so a failed build leaves no half-written output.
type stepPrepare struct{}

func (*stepPrepare) Name() string { return "prepare" }

func (*stepPrepare) Run(ctx context.Context, st *State) error {
	if err := os.MkdirAll(st.Opts.OutDir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if err := os.MkdirAll(debCache(st), 0o755); err != nil {
		return fmt.Errorf("cache directory: %w", err)
	}
	dir, err := os.MkdirTemp(st.Opts.OutDir, ".mantlet-work-")
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	st.WorkDir = dir
	// the tools' versions, for the manifest (a recording fake has none to give)
	if _, real := st.Opts.Runner.(command.Exec); real {
		if st.Tools, err = imageToolVersions(ctx, st.Opts.Runner, stubPath(st.Opts)); err != nil {
			return err
		}
	}
	return nil
}

func (*stepPrepare) Cleanup(st *State) {
	if st.WorkDir == "" {
		return
	}
	if st.Opts.KeepWork {
		slog.Info("work directory kept", "dir", st.WorkDir)
		return
	}
	if err := os.RemoveAll(st.WorkDir); err != nil {
		slog.Warn("cannot remove the work directory", "dir", st.WorkDir, "err", err)
	}
}
