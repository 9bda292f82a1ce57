// Package stages applies a parsed Ignition config to a root filesystem. Each stage
// registers itself in init() with a name and a place in the order. A stage first prepares:
// it decodes, verifies and checks everything it needs and writes nothing; only when every
// stage has prepared do the returned actions run, in order.
package stages

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/coreos/ignition/v2/config/v3_6/types"
	"github.com/mantlet/mantlet/firstboot/resource"
	"github.com/mantlet/mantlet/firstboot/rootfs"
	"github.com/mantlet/mantlet/internal/command"
)

// Env is what stages work with.
type Env struct {
	FS     *rootfs.FS
	Runner command.Runner
	// Logf reports progress (paths and counts, never contents); nil discards.
	Logf func(format string, args ...any)
	// Journal, when set, remembers the actions that are not idempotent (appending to an
	// existing file) across an interrupted boot and the next attempt; nil: no memory.
	Journal Journal
	// UndoLog, when not "", is the config path of the apply's undo log, so that a run
	// stopped by a power cut can be undone by the next one (rootfs.FS.Recover); "": the
	// undo notes are kept in memory.
	UndoLog string
	// Fetcher gets the contents of remote sources (https:, hash-pinned http:); nil: only
	// data: URLs. Stages fetch while they prepare, so that everything is fetched and
	// verified before anything is written.
	Fetcher *resource.Fetcher

	fetched map[string][]byte // contents by resource, so that none is fetched twice
}

// contents returns the bytes of a resource, fetching it at most once per Env.
func (e *Env) contents(ctx context.Context, r types.Resource) ([]byte, error) {
	if r.Source == nil {
		return nil, nil
	}
	if e.Fetcher == nil {
		return resource.Contents(r)
	}
	key := fmt.Sprintf("%q %v %v %v", *r.Source, deref(r.Compression), deref(r.Verification.Hash), r.HTTPHeaders)
	if b, ok := e.fetched[key]; ok {
		return b, nil
	}
	b, err := e.Fetcher.Contents(ctx, r)
	if err != nil {
		return nil, err
	}
	if e.fetched == nil {
		e.fetched = map[string][]byte{}
	}
	e.fetched[key] = b
	return b, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Journal records which non-idempotent actions are done.
type Journal interface {
	Done(key string) bool
	Record(key string) error
}

func (e *Env) logf(format string, args ...any) {
	if e.Logf != nil {
		e.Logf(format, args...)
	}
}

// Action is the work a stage prepared; it may write.
type Action func(ctx context.Context) error

// Stage is one part of applying a config.
type Stage interface {
	Name() string
	// Prepare checks and decodes the stage's part of cfg without writing anything and
	// returns the work to do (nil when there is none). Errors name the JSON path.
	Prepare(ctx context.Context, env *Env, cfg types.Config) (Action, error)
}

type entry struct {
	order int
	stage Stage
}

var (
	mu       sync.Mutex
	registry = map[string]entry{}
)

// Register adds a stage at a place in the order; a duplicate name or place panics.
func Register(order int, s Stage) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[s.Name()]; dup {
		panic(fmt.Sprintf("stages: %q registered twice", s.Name()))
	}
	for name, e := range registry {
		if e.order == order {
			panic(fmt.Sprintf("stages: %q and %q both registered at %d", name, s.Name(), order))
		}
	}
	registry[s.Name()] = entry{order: order, stage: s}
}

// All returns the stages in the order they run.
func All() []Stage {
	mu.Lock()
	defer mu.Unlock()
	es := make([]entry, 0, len(registry))
	for _, e := range registry {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].order < es[j].order })
	out := make([]Stage, len(es))
	for i, e := range es {
		out[i] = e.stage
	}
	return out
}

// Names lists the registered stages, sorted by name.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Apply prepares every stage, then runs their actions in order, in one transaction of the
// root: nothing is written unless every stage prepared without error, and when an action
// fails every change made so far is undone, so that the root is as it was.
func Apply(ctx context.Context, env *Env, cfg types.Config) error {
	type prepared struct {
		name   string
		action Action
	}
	var todo []prepared
	for _, s := range All() {
		a, err := s.Prepare(ctx, env, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name(), err)
		}
		if a != nil {
			todo = append(todo, prepared{s.Name(), a})
		}
	}
	if len(todo) == 0 {
		return nil
	}
	tx, err := env.FS.Begin(env.UndoLog)
	if err != nil {
		return err
	}
	for _, p := range todo {
		if err := p.action(ctx); err != nil {
			err = fmt.Errorf("%s: %w", p.name, err)
			if rerr := tx.Rollback(); rerr != nil {
				return fmt.Errorf("%w; undoing its changes failed too: %w", err, rerr)
			}
			env.logf("undid the changes of the failed config")
			return err
		}
	}
	return tx.Commit()
}
