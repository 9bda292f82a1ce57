package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/fsutil"
	"github.com/mantlet/mantlet/internal/pipeline"
)

// stepResolve finds, before anything is installed, the version of every package the package
// layer gets: apt (configured as mmdebstrap configures its own) updates the package lists of
// the plan's sources, kept in the cache between builds, and resolves the plan's packages and
// what variant minbase adds. The versions are part of the layer's key: a mirror that moved on
// means a new layer. The same lists and request give the same answer, which is kept, so an
// unchanged mirror costs one update.
type stepResolve struct{}

func (*stepResolve) Name() string { return "resolve" }

// memosKept bounds the resolutions kept per set of sources.
const memosKept = 20

func (*stepResolve) Run(ctx context.Context, st *State) error {
	env := newAptEnv(st.Opts.CacheDir, st.Plan)
	if err := os.MkdirAll(filepath.Dir(env.Dir), 0o755); err != nil {
		return err
	}
	lock, err := fsutil.TakeLock(ctx, env.Dir+".lock")
	if err != nil {
		return err
	}
	defer lock.Unlock(false)
	if err := env.prepare(); err != nil {
		return fmt.Errorf("apt configuration: %w", err)
	}
	run := func(name string, args ...string) ([]byte, error) {
		return st.Opts.Runner.Run(ctx, command.Cmd{Name: name, Args: args, Env: env.environ()})
	}
	// The tools' versions while apt fetches (mmdebstrap is Perl: it takes a moment to start).
	vers := make(chan error, 1)
	go func() {
		var err error
		st.toolVers, err = toolVersions(run)
		vers <- err
	}()
	_, err = run("apt-get", aptUpdateArgs()...)
	if verr := <-vers; err == nil && verr != nil {
		return verr
	}
	if err != nil {
		return fmt.Errorf("package lists of the image's sources: %w", err)
	}
	lists := filepath.Join(env.Dir, "lists")
	if st.listsHash, err = listsDigest(lists); err != nil {
		return err
	}
	memo := filepath.Join(env.Dir, "resolved", resolutionKey(st)+".json")
	if data, err := os.ReadFile(memo); err == nil && json.Unmarshal(data, &st.Resolved) == nil && len(st.Resolved) > 0 {
		touch(memo)
	} else {
		out, err := run("apt-get", aptSimulateArgs(st.Plan, st.KernelDeb)...)
		if err != nil {
			return fmt.Errorf("resolve the packages against the image's sources: %w", err)
		}
		if st.Resolved, err = parseSimulation(out); err != nil {
			return err
		}
		data, _ := json.Marshal(st.Resolved)
		if err := fsutil.WriteFileAtomic(memo, data, 0o644); err != nil {
			return err
		}
		trimMemos(filepath.Dir(memo), memosKept)
	}
	st.listsDir = filepath.Join(st.WorkDir, "lists")
	if err := snapshotLists(lists, st.listsDir); err != nil {
		return fmt.Errorf("package lists: %w", err)
	}
	st.LayerKey, err = layerKey(st)
	return err
}

func (*stepResolve) Cleanup(*State) {}

func (*stepResolve) Outcome(st *State) pipeline.Outcome {
	return pipeline.Outcome{Note: fmt.Sprintf("%d packages", len(st.Resolved))}
}

// toolVersions are the versions of the tools that make the package layer: a new mmdebstrap
// or apt may make another.
func toolVersions(run func(string, ...string) ([]byte, error)) (map[string]string, error) {
	v := map[string]string{}
	for _, tool := range []string{"mmdebstrap", "apt-get"} {
		out, err := run(tool, "--version")
		if err != nil {
			return nil, err
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		v[tool] = line
	}
	return v, nil
}

// resolutionKey names a resolution: the request, the apt that answers and the lists.
func resolutionKey(st *State) string {
	args := aptSimulateArgs(st.Plan, "")
	if d := st.Plan.KernelDeb; d != nil {
		args = append(args, "kernel.deb sha256 "+d.SHA256)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%q\n%s\n%s\n", args, st.toolVers["apt-get"], st.listsHash)
	return hex.EncodeToString(h.Sum(nil))
}

func touch(p string) {
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil && !errors.Is(err, os.ErrNotExist) {
		slog.Debug("touch", "path", p, "err", err)
	}
}

// trimMemos keeps the keep most recently used files of dir.
func trimMemos(dir string, keep int) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type f struct {
		name string
		mod  int64
	}
	var files []f
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			files = append(files, f{e.Name(), info.ModTime().UnixNano()})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod > files[j].mod })
	for _, x := range files[min(keep, len(files)):] {
		os.Remove(filepath.Join(dir, x.name))
	}
}
